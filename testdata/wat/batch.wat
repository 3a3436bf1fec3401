;; batch: a reactor importing from astrid:ipc@1.1.0 only — publish-batch and, to show that the
;; 1.1.0 module serves every 1.0.0 function too, subscribe and subscription-poll. Its exports
;; forward their arguments unchanged, like hostcalls.wat. 80 pages (5 MiB) of memory: room for
;; a records buffer over the 4 MiB limit.
(module
  (import "astrid:ipc@1.1.0" "publish-batch" (func $batch (param i32 i32 i32) (result i32)))
  (import "astrid:ipc@1.1.0" "subscribe" (func $subscribe (param i32 i32 i32) (result i32)))
  (import "astrid:ipc@1.1.0" "subscription-poll" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 80)
  (func (export "call_publish_batch") (param i32 i32 i32) (result i32)
    (call $batch (local.get 0) (local.get 1) (local.get 2)))
  (func (export "call_subscribe") (param i32 i32 i32) (result i32)
    (call $subscribe (local.get 0) (local.get 1) (local.get 2)))
  (func (export "call_poll") (param i32 i32 i32 i32) (result i32)
    (call $poll (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
)
