;; procexit: signals ready, then calls WASI proc_exit(3).
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (import "astrid:sys@1.0.0" "signal-ready" (func $ready (result i32)))
  (memory (export "memory") 1)
  (func (export "run")
    (drop (call $ready))
    (call $exit (i32.const 3)))
)
