;; crashy: the demo's crash victim. It subscribes "demo.crash", signals ready, and traps
;; (unreachable) when a message arrives there; its supervisor then restarts it with a fresh
;; instance. It returns from run when recv fails (the capsule is stopping).
(module
  (import "astrid:ipc@1.0.0" "subscribe" (func $subscribe (param i32 i32 i32) (result i32)))
  (import "astrid:ipc@1.0.0" "subscription-recv" (func $recv (param i32 i64 i32 i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "signal-ready" (func $ready (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "demo.crash")        ;; 10 bytes
  ;; 32: handle, 36: len_out, 1024..9215: envelope buffer
  (func (export "run")
    (local $code i32)
    (if (call $subscribe (i32.const 0) (i32.const 10) (i32.const 32)) (then (unreachable)))
    (drop (call $ready))
    (loop $wait
      (local.set $code (call $recv (i32.load (i32.const 32)) (i64.const 60000) (i32.const 1024) (i32.const 8192) (i32.const 36)))
      (if (local.get $code) (then (return)))
      (if (i32.load (i32.const 1024)) (then (unreachable)))
      (br $wait)))
)
