;; stack: signals ready, then recurses without end (stack overflow).
(module
  (import "astrid:sys@1.0.0" "signal-ready" (func $ready (result i32)))
  (memory (export "memory") 1)
  (func $down (param i32) (result i32)
    (i32.add (call $down (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
  (func (export "run")
    (drop (call $ready))
    (drop (call $down (i32.const 0))))
)
