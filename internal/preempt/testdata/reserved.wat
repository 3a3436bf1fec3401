;; reserved: a guest importing from astrid:preempt, which the runtime reserves.
(module
  (import "astrid:preempt" "check" (func))
  (memory (export "memory") 1)
  (func (export "run"))
)
