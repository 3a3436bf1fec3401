;; startfail: its _initialize traps, so every instantiation fails.
(module
  (memory (export "memory") 1)
  (func (export "_initialize") unreachable)
  (func (export "run"))
)
