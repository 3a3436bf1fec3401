;; idle: the smallest useful capsule, for cold-start measurements. It subscribes "idle.never",
;; signals ready and blocks in recv until it is stopped (recv then returns cancelled).
(module
  (import "astrid:ipc@1.0.0" "subscribe" (func $subscribe (param i32 i32 i32) (result i32)))
  (import "astrid:ipc@1.0.0" "subscription-recv" (func $recv (param i32 i64 i32 i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "signal-ready" (func $ready (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "idle.never")
  ;; 32: handle, 36: len_out, 1024..5119: envelope buffer
  (func (export "run")
    (if (call $subscribe (i32.const 0) (i32.const 10) (i32.const 32)) (then (unreachable)))
    (drop (call $ready))
    (loop $wait
      (br_if $wait (i32.eqz
        (call $recv (i32.load (i32.const 32)) (i64.const 60000) (i32.const 1024) (i32.const 4096) (i32.const 36))))))
)
