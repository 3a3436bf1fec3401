;; kvcalls: a reactor (no run loop) whose exports forward their arguments unchanged to the
;; astrid:kv@1.0.0 host functions, so tests can call them with any raw values against a real
;; instance. 20 pages (1.25 MiB) of memory: room for a value over the 1 MiB limit.
(module
  (import "astrid:kv@1.0.0" "kv-get" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (import "astrid:kv@1.0.0" "kv-set" (func $set (param i32 i32 i32 i32) (result i32)))
  (import "astrid:kv@1.0.0" "kv-delete" (func $delete (param i32 i32) (result i32)))
  (import "astrid:kv@1.0.0" "kv-cas" (func $cas (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "astrid:kv@1.0.0" "kv-list-keys-page" (func $list (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "astrid:kv@1.0.0" "kv-clear-prefix" (func $clear (param i32 i32 i32) (result i32)))
  (memory (export "memory") 20)
  (func (export "call_kv_get") (param i32 i32 i32 i32 i32) (result i32)
    (call $get (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4)))
  (func (export "call_kv_set") (param i32 i32 i32 i32) (result i32)
    (call $set (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "call_kv_delete") (param i32 i32) (result i32)
    (call $delete (local.get 0) (local.get 1)))
  (func (export "call_kv_cas") (param i32 i32 i32 i32 i32 i32 i32) (result i32)
    (call $cas (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4) (local.get 5) (local.get 6)))
  (func (export "call_kv_list") (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
    (call $list (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4) (local.get 5) (local.get 6) (local.get 7)))
  (func (export "call_kv_clear") (param i32 i32 i32) (result i32)
    (call $clear (local.get 0) (local.get 1) (local.get 2)))
)
