;; chaos: a subscriber that crashes at random. It subscribes the pattern of config key "topic"
;; (default "chaos.*"), signals ready and loops; each turn it draws a random byte b and
;;   b < 8   traps (unreachable): about one turn in 32
;;   b < 24  sleeps 1 ms without reading, so its mailbox fills and evicts
;;   else    receives one batch (timeout 50 ms) into a 2 KiB buffer, so messages stay queued
;; It returns when recv reports anything but ok (cancelled, closed).
(module
  (import "astrid:ipc@1.0.0" "subscribe" (func $subscribe (param i32 i32 i32) (result i32)))
  (import "astrid:ipc@1.0.0" "subscription-recv" (func $recv (param i32 i64 i32 i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "signal-ready" (func $ready (result i32)))
  (import "astrid:sys@1.0.0" "get-config" (func $config (param i32 i32 i32 i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "random-bytes" (func $random (param i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "sleep-ns" (func $sleep (param i64) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "topic")
  (data (i32.const 16) "chaos.*")
  ;; 32: handle, 36: len_out, 40: random byte, 64..319: topic from config, 1024..3071: envelope
  (func (export "run")
    (local $ptr i32) (local $len i32) (local $b i32)
    (local.set $ptr (i32.const 16))
    (local.set $len (i32.const 7))
    (if (i32.eqz (call $config (i32.const 0) (i32.const 5) (i32.const 64) (i32.const 256) (i32.const 36)))
      (then (local.set $ptr (i32.const 64)) (local.set $len (i32.load (i32.const 36)))))
    (if (call $subscribe (local.get $ptr) (local.get $len) (i32.const 32)) (then (unreachable)))
    (drop (call $ready))
    (loop $turn
      (drop (call $random (i32.const 40) (i32.const 1)))
      (local.set $b (i32.load8_u (i32.const 40)))
      (if (i32.lt_u (local.get $b) (i32.const 8)) (then (unreachable)))
      (if (i32.lt_u (local.get $b) (i32.const 24))
        (then
          (if (call $sleep (i64.const 1000000)) (then (return)))
          (br $turn)))
      (if (call $recv (i32.load (i32.const 32)) (i64.const 50) (i32.const 1024) (i32.const 2048) (i32.const 36))
        (then (return)))
      (br $turn)))
)
