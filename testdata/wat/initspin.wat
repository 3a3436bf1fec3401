;; initspin (hostile): its _initialize loops forever without calling the host, so the
;; instance never reaches its run loop. The watchdog and the ready timeout must stop it.
(module
  (import "astrid:sys@1.0.0" "signal-ready" (func $ready (result i32)))
  (memory (export "memory") 1)
  (func (export "_initialize")
    (loop $forever (br $forever)))
  (func (export "run")
    (drop (call $ready)))
)
