;; badwasi: imports a WASI function that does not exist.
(module
  (import "wasi_snapshot_preview1" "no_such_call" (func $x))
  (memory (export "memory") 1)
  (func (export "run") (call $x))
)
