;; noready: a run loop that never calls signal-ready; it blocks in recv until stopped.
(module
  (import "astrid:ipc@1.0.0" "subscribe" (func $subscribe (param i32 i32 i32) (result i32)))
  (import "astrid:ipc@1.0.0" "subscription-recv" (func $recv (param i32 i64 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "quiet")
  (func (export "run")
    (if (call $subscribe (i32.const 0) (i32.const 5) (i32.const 32)) (then (unreachable)))
    (loop $wait
      (if (i32.eqz (call $recv (i32.load (i32.const 32)) (i64.const 60000) (i32.const 1024) (i32.const 4096) (i32.const 36)))
        (then (br $wait)))))
)
