;; spin: signals ready, then loops forever without calling the host. Stopping it relies on
;; wazero's WithCloseOnContextDone.
(module
  (import "astrid:sys@1.0.0" "signal-ready" (func $ready (result i32)))
  (memory (export "memory") 1)
  (func (export "run")
    (drop (call $ready))
    (loop $forever (br $forever)))
)
