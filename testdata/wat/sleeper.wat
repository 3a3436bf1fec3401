;; sleeper: signals ready, then sleeps 50 ms at a time forever (sleep-ns counts as yielding).
;; It returns when the sleep is cancelled.
(module
  (import "astrid:sys@1.0.0" "signal-ready" (func $ready (result i32)))
  (import "astrid:sys@1.0.0" "sleep-ns" (func $sleep (param i64) (result i32)))
  (memory (export "memory") 1)
  (func (export "run")
    (drop (call $ready))
    (loop $forever
      (if (call $sleep (i64.const 50000000)) (then (return)))
      (br $forever)))
)
