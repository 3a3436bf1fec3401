;; blockrecv: subscribes "block.never", signals ready and blocks in recv for up to 60 s. The
;; code recv returned is stored at address 64 and published on "block.result" as a JSON
;; number (the publish fails once the capsule is stopping, which is fine).
(module
  (import "astrid:ipc@1.0.0" "subscribe" (func $subscribe (param i32 i32 i32) (result i32)))
  (import "astrid:ipc@1.0.0" "subscription-recv" (func $recv (param i32 i64 i32 i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "signal-ready" (func $ready (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "block.never")
  (func (export "run")
    (if (call $subscribe (i32.const 0) (i32.const 11) (i32.const 32)) (then (unreachable)))
    (drop (call $ready))
    (i32.store (i32.const 64)
      (call $recv (i32.load (i32.const 32)) (i64.const 60000) (i32.const 1024) (i32.const 4096) (i32.const 36))))
)
