;; fairecho: subscribes "fair.in", signals ready, and republishes on "fair.out" the payload of
;; every message that is not the empty object {} (the probes; a flooding neighbour sends {}).
;; It returns from run when recv reports cancelled (11) or closed (3).
(module
  (import "astrid:ipc@1.0.0" "publish" (func $publish (param i32 i32 i32 i32) (result i32)))
  (import "astrid:ipc@1.0.0" "subscribe" (func $subscribe (param i32 i32 i32) (result i32)))
  (import "astrid:ipc@1.0.0" "subscription-recv" (func $recv (param i32 i64 i32 i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "signal-ready" (func $ready (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "fair.in")
  (data (i32.const 16) "fair.out")
  ;; 32: handle, 36: len_out, 64..: envelope buffer (64 KiB)
  (func (export "run")
    (local $code i32) (local $count i32) (local $off i32) (local $tl i32) (local $pl i32) (local $rl i32)
    (if (call $subscribe (i32.const 0) (i32.const 7) (i32.const 32)) (then (unreachable)))
    (drop (call $ready))
    (loop $wait
      (local.set $code (call $recv (i32.load (i32.const 32)) (i64.const 60000) (i32.const 64) (i32.const 65536) (i32.const 36)))
      (if (i32.or (i32.eq (local.get $code) (i32.const 11)) (i32.eq (local.get $code) (i32.const 3))) (then (return)))
      (if (local.get $code) (then (unreachable)))
      (local.set $count (i32.load (i32.const 64)))
      (local.set $off (i32.const 88))
      (block $done
        (loop $each
          (br_if $done (i32.eqz (local.get $count)))
          (local.set $tl (i32.load (local.get $off)))
          (local.set $pl (i32.load offset=4 (local.get $off)))
          (local.set $rl (i32.load offset=8 (local.get $off)))
          (if (i32.ne (local.get $pl) (i32.const 2))
            (then (drop (call $publish (i32.const 16) (i32.const 8)
              (i32.add (i32.add (local.get $off) (i32.const 48)) (local.get $tl)) (local.get $pl)))))
          (local.set $off (i32.add (local.get $off)
            (i32.add (i32.const 48) (i32.add (local.get $tl) (i32.add (local.get $pl) (local.get $rl))))))
          (local.set $count (i32.sub (local.get $count) (i32.const 1)))
          (br $each)))
      (br $wait)))
)
