;; chaospub: a publisher that crashes at random. It signals ready and publishes {"n":1} on the
;; topic of config key "topic" (default "chaos.pub") in a loop; each turn it draws a random
;; byte b and
;;   b == 0  traps (unreachable): about one turn in 256
;;   b < 8   sleeps 100 us (it yields, and lets subscribers catch up a little)
;;   else    publishes (a refusal, e.g. by the rate limiter, is ignored)
;; It returns when the sleep reports cancelled.
(module
  (import "astrid:ipc@1.0.0" "publish" (func $publish (param i32 i32 i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "signal-ready" (func $ready (result i32)))
  (import "astrid:sys@1.0.0" "get-config" (func $config (param i32 i32 i32 i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "random-bytes" (func $random (param i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "sleep-ns" (func $sleep (param i64) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "topic")
  (data (i32.const 16) "chaos.pub")
  (data (i32.const 48) "{\"n\":1}")
  ;; 36: len_out, 40: random byte, 64..319: topic from config
  (func (export "run")
    (local $ptr i32) (local $len i32) (local $b i32)
    (local.set $ptr (i32.const 16))
    (local.set $len (i32.const 9))
    (if (i32.eqz (call $config (i32.const 0) (i32.const 5) (i32.const 64) (i32.const 256) (i32.const 36)))
      (then (local.set $ptr (i32.const 64)) (local.set $len (i32.load (i32.const 36)))))
    (drop (call $ready))
    (loop $turn
      (drop (call $random (i32.const 40) (i32.const 1)))
      (local.set $b (i32.load8_u (i32.const 40)))
      (if (i32.eqz (local.get $b)) (then (unreachable)))
      (if (i32.lt_u (local.get $b) (i32.const 8))
        (then
          (if (call $sleep (i64.const 100000)) (then (return)))
          (br $turn)))
      (drop (call $publish (local.get $ptr) (local.get $len) (i32.const 48) (i32.const 7)))
      (br $turn)))
)
