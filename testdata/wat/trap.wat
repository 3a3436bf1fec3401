;; trap: signals ready, then executes unreachable.
(module
  (import "astrid:sys@1.0.0" "signal-ready" (func $ready (result i32)))
  (memory (export "memory") 1)
  (func (export "run")
    (drop (call $ready))
    unreachable)
)
