;; good: provided imports of the ABI and WASI, a run loop, _initialize, interceptor exports
;; and an exported memory with a maximum.
(module
  (import "astrid:ipc@1.0.0" "publish" (func (param i32 i32 i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "signal-ready" (func (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2 4)
  (func (export "run"))
  (func (export "_initialize"))
  (func (export "astrid-hook-trigger") (param i32 i32) (result i32) (i32.const 0))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 0))
)
