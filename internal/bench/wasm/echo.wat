;; echo: subscribes the topic of config key "in" (default "echo.in"), signals ready, and
;; republishes the payload of every message it receives on the topic of config key "out"
;; (default "echo.out"). Its receive buffer grows when a message does not fit. It returns from
;; run when recv reports cancelled (11) or closed (3).
(module
  (import "astrid:ipc@1.0.0" "publish" (func $publish (param i32 i32 i32 i32) (result i32)))
  (import "astrid:ipc@1.0.0" "subscribe" (func $subscribe (param i32 i32 i32) (result i32)))
  (import "astrid:ipc@1.0.0" "subscription-recv" (func $recv (param i32 i64 i32 i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "signal-ready" (func $ready (result i32)))
  (import "astrid:sys@1.0.0" "get-config" (func $config (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "in")
  (data (i32.const 4) "out")
  (data (i32.const 8) "echo.in")
  (data (i32.const 16) "echo.out")
  ;; 32: handle, 36: len_out, 64..319: "in" topic, 320..575: "out" topic, 1024..: envelope buffer

  (func $ensure (param $end i32)
    (local $have i32)
    (local.set $have (i32.mul (memory.size) (i32.const 65536)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.eq (memory.grow (i32.div_u (i32.add (i32.sub (local.get $end) (local.get $have)) (i32.const 65535)) (i32.const 65536)))
                    (i32.const -1))
          (then (unreachable))))))

  (func (export "run")
    (local $code i32) (local $count i32) (local $off i32) (local $tl i32) (local $pl i32) (local $rl i32)
    (local $inp i32) (local $inl i32) (local $outp i32) (local $outl i32)
    (local.set $inp (i32.const 8))
    (local.set $inl (i32.const 7))
    (local.set $outp (i32.const 16))
    (local.set $outl (i32.const 8))
    (if (i32.eqz (call $config (i32.const 0) (i32.const 2) (i32.const 64) (i32.const 256) (i32.const 36)))
      (then (local.set $inp (i32.const 64)) (local.set $inl (i32.load (i32.const 36)))))
    (if (i32.eqz (call $config (i32.const 4) (i32.const 3) (i32.const 320) (i32.const 256) (i32.const 36)))
      (then (local.set $outp (i32.const 320)) (local.set $outl (i32.load (i32.const 36)))))
    (if (call $subscribe (local.get $inp) (local.get $inl) (i32.const 32)) (then (unreachable)))
    (drop (call $ready))
    (loop $wait
      (local.set $code (call $recv (i32.load (i32.const 32)) (i64.const 60000) (i32.const 1024)
        (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 1024)) (i32.const 36)))
      (if (i32.or (i32.eq (local.get $code) (i32.const 11)) (i32.eq (local.get $code) (i32.const 3))) (then (return)))
      (if (i32.eq (local.get $code) (i32.const 9))
        (then
          (call $ensure (i32.add (i32.const 1024) (i32.load (i32.const 36))))
          (br $wait)))
      (if (local.get $code) (then (unreachable)))
      (local.set $count (i32.load (i32.const 1024)))
      (local.set $off (i32.const 1048))
      (block $done
        (loop $each
          (br_if $done (i32.eqz (local.get $count)))
          (local.set $tl (i32.load (local.get $off)))
          (local.set $pl (i32.load offset=4 (local.get $off)))
          (local.set $rl (i32.load offset=8 (local.get $off)))
          (drop (call $publish (local.get $outp) (local.get $outl)
            (i32.add (i32.add (local.get $off) (i32.const 48)) (local.get $tl)) (local.get $pl)))
          (local.set $off (i32.add (local.get $off)
            (i32.add (i32.const 48) (i32.add (local.get $tl) (i32.add (local.get $pl) (local.get $rl))))))
          (local.set $count (i32.sub (local.get $count) (i32.const 1)))
          (br $each)))
      (br $wait)))
)
