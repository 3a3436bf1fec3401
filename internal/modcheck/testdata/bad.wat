;; bad: one import of each failing kind, an imported memory and no exported one.
(module
  (import "astrid:ipc@1.0.0" "publish" (func (param i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "no-such-function" (func))
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32)))
  (import "wasi_snapshot_preview1" "no_such_call" (func))
  (import "env" "whatever" (func))
  (import "astrid:sys@1.0.0" "clock-ms" (func (result i64)))
  (import "env" "memory" (memory 1))
  (func (export "_start"))
)
