;; badimport: imports a function the runtime does not provide.
(module
  (import "env" "whatever" (func $w))
  (memory (export "memory") 1)
  (func (export "run") (call $w))
)
