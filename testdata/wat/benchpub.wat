;; benchpub: benchmark publisher. Subscribes "bench.go" and signals ready; for every message
;; it receives, whose payload is a decimal JSON number N, it publishes N copies of a 128-byte
;; JSON payload on "bench.data" as fast as it can, then waits for the next "bench.go".
(module
  (import "astrid:ipc@1.0.0" "publish" (func $publish (param i32 i32 i32 i32) (result i32)))
  (import "astrid:ipc@1.0.0" "subscribe" (func $subscribe (param i32 i32 i32) (result i32)))
  (import "astrid:ipc@1.0.0" "subscription-recv" (func $recv (param i32 i64 i32 i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "signal-ready" (func $ready (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "bench.go")
  (data (i32.const 16) "bench.data")
  ;; 128-byte payload at 256
  (data (i32.const 256) "{\"kind\":\"bench\",\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}")
  ;; 32: handle, 36: len_out, 1024..: envelope buffer
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
    (local $code i32) (local $n i32) (local $tl i32)
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
              (if (call $publish (i32.const 16) (i32.const 10) (i32.const 256) (i32.const 128)) (then (unreachable)))
              (local.set $n (i32.sub (local.get $n) (i32.const 1)))
              (br $pub)))))
      (br $wait)))
)
