;; benchpub: benchmark publisher. Reads its payload from config key "payload" (any size up to
;; 1 MiB; memory grows to fit; a built-in 128-byte JSON object when the key is missing),
;; subscribes "bench.go" and signals ready. For every message it receives, whose payload is a
;; decimal JSON number N, it publishes N copies of the payload on "bench.data" as fast as it
;; can (trapping if a publish fails), then waits for the next "bench.go".
(module
  (import "astrid:ipc@1.0.0" "publish" (func $publish (param i32 i32 i32 i32) (result i32)))
  (import "astrid:ipc@1.0.0" "subscribe" (func $subscribe (param i32 i32 i32) (result i32)))
  (import "astrid:ipc@1.0.0" "subscription-recv" (func $recv (param i32 i64 i32 i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "signal-ready" (func $ready (result i32)))
  (import "astrid:sys@1.0.0" "get-config" (func $config (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "bench.go")
  (data (i32.const 16) "bench.data")
  (data (i32.const 40) "payload")
  ;; default 128-byte payload at 256
  (data (i32.const 256) "{\"kind\":\"bench\",\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}")
  ;; 32: handle, 36: len_out, 1024..5119: envelope buffer, 65536..: payload from config

  ;; ensure grows memory so that [0, end) is inside it.
  (func $ensure (param $end i32)
    (local $have i32)
    (local.set $have (i32.mul (memory.size) (i32.const 65536)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.eq (memory.grow (i32.div_u (i32.add (i32.sub (local.get $end) (local.get $have)) (i32.const 65535)) (i32.const 65536)))
                    (i32.const -1))
          (then (unreachable))))))

  ;; getcfg copies the value of config key [k, k+kl) to dst, growing memory as needed. It
  ;; returns the value's length, or -1 when the key is missing.
  (func $getcfg (param $k i32) (param $kl i32) (param $dst i32) (result i32)
    (local $code i32)
    (local.set $code (call $config (local.get $k) (local.get $kl) (local.get $dst)
      (i32.sub (i32.mul (memory.size) (i32.const 65536)) (local.get $dst)) (i32.const 36)))
    (if (i32.eq (local.get $code) (i32.const 9))
      (then
        (call $ensure (i32.add (local.get $dst) (i32.load (i32.const 36))))
        (local.set $code (call $config (local.get $k) (local.get $kl) (local.get $dst)
          (i32.sub (i32.mul (memory.size) (i32.const 65536)) (local.get $dst)) (i32.const 36)))))
    (if (local.get $code) (then (return (i32.const -1))))
    (i32.load (i32.const 36)))

  (func $digits (param $p i32) (param $len i32) (result i32)
    (local $n i32) (local $c i32) (local $end i32)
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (block $out
      (loop $l
        (br_if $out (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.sub (i32.load8_u (local.get $p)) (i32.const 48)))
        (if (i32.lt_u (local.get $c) (i32.const 10))
          (then (local.set $n (i32.add (i32.mul (local.get $n) (i32.const 10)) (local.get $c)))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $l)))
    (local.get $n))

  (func (export "run")
    (local $code i32) (local $n i32) (local $tl i32) (local $pp i32) (local $pl i32)
    (local.set $pp (i32.const 256))
    (local.set $pl (i32.const 128))
    (local.set $code (call $getcfg (i32.const 40) (i32.const 7) (i32.const 65536)))
    (if (i32.ge_s (local.get $code) (i32.const 0))
      (then (local.set $pp (i32.const 65536)) (local.set $pl (local.get $code))))
    (if (call $subscribe (i32.const 0) (i32.const 8) (i32.const 32)) (then (unreachable)))
    (drop (call $ready))
    (loop $wait
      (local.set $code (call $recv (i32.load (i32.const 32)) (i64.const 60000) (i32.const 1024) (i32.const 4096) (i32.const 36)))
      (if (i32.ne (local.get $code) (i32.const 0)) (then (return)))
      (if (i32.load (i32.const 1024))
        (then
          (local.set $tl (i32.load (i32.const 1048)))
          (local.set $n (call $digits
            (i32.add (i32.const 1096) (local.get $tl))
            (i32.load (i32.const 1052))))
          (block $done
            (loop $pub
              (br_if $done (i32.eqz (local.get $n)))
              (if (call $publish (i32.const 16) (i32.const 10) (local.get $pp) (local.get $pl)) (then (unreachable)))
              (local.set $n (i32.sub (local.get $n) (i32.const 1)))
              (br $pub)))))
      (br $wait)))
)
