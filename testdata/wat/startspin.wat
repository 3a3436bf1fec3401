;; startspin (hostile): its wasm start function loops forever, so instantiation itself never
;; returns. The watchdog and the ready timeout must stop it.
(module
  (memory (export "memory") 1)
  (func $spin
    (loop $forever (br $forever)))
  (start $spin)
  (func (export "run"))
)
