;; oob: signals ready, then loads from far outside its one page of memory.
(module
  (import "astrid:sys@1.0.0" "signal-ready" (func $ready (result i32)))
  (memory (export "memory") 1)
  (func (export "run")
    (drop (call $ready))
    (drop (i32.load (i32.const 1000000))))
)
