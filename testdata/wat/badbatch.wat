;; badbatch: imports publish-batch from astrid:ipc@1.0.0, which does not have it (it is new in
;; 1.1.0): the engine must refuse the module at compile time, naming the import.
(module
  (import "astrid:ipc@1.0.0" "publish-batch" (func $batch (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "run") (drop (call $batch (i32.const 0) (i32.const 0) (i32.const 0))))
)
