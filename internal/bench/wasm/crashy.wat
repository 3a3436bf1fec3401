;; crashy: subscribes the topic named by config key "topic" (default "crash.now"), signals
;; ready, and traps (unreachable) when a message arrives. It returns when recv is cancelled.
(module
  (import "astrid:ipc@1.0.0" "subscribe" (func $subscribe (param i32 i32 i32) (result i32)))
  (import "astrid:ipc@1.0.0" "subscription-recv" (func $recv (param i32 i64 i32 i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "signal-ready" (func $ready (result i32)))
  (import "astrid:sys@1.0.0" "get-config" (func $config (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "topic")
  (data (i32.const 16) "crash.now")
  ;; 32: handle, 36: len_out, 64..319: topic from config, 1024..: envelope buffer
  (func (export "run")
    (local $code i32) (local $ptr i32) (local $len i32)
    (local.set $ptr (i32.const 16))
    (local.set $len (i32.const 9))
    (if (i32.eqz (call $config (i32.const 0) (i32.const 5) (i32.const 64) (i32.const 256) (i32.const 36)))
      (then (local.set $ptr (i32.const 64)) (local.set $len (i32.load (i32.const 36)))))
    (if (call $subscribe (local.get $ptr) (local.get $len) (i32.const 32)) (then (unreachable)))
    (drop (call $ready))
    (loop $wait
      (local.set $code (call $recv (i32.load (i32.const 32)) (i64.const 60000) (i32.const 1024) (i32.const 8192) (i32.const 36)))
      (if (local.get $code) (then (return)))
      (if (i32.load (i32.const 1024)) (then (unreachable)))
      (br $wait)))
)
