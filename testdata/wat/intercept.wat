;; intercept: an interceptor reactor (no run loop). It exports cabi_realloc (a wrapping bump
;; allocator) and astrid-hook-trigger. Every call first publishes the payload it received on
;; the topic named by config key "seen" (so tests can see the order and the payloads), then
;; acts on the first byte of the action name:
;;   p  continue, payload unchanged        r<json>  continue, payload replaced by <json>
;;   f  final                              d        deny with reason "no"
;;   t  trap (unreachable)                 s        sleep 100 ms, then continue unchanged
;;                                         S        sleep 1 s, then continue unchanged
(module
  (import "astrid:ipc@1.0.0" "publish" (func $publish (param i32 i32 i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "get-config" (func $config (param i32 i32 i32 i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "sleep-ns" (func $sleep (param i64) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "seen")
  (global $heap (mut i32) (i32.const 8192))
  ;; 64: len_out, 256..511: seen topic, 1024..2047: result
  (func (export "cabi_realloc") (param $old i32) (param $oldSize i32) (param $align i32) (param $size i32) (result i32)
    (local $p i32)
    (if (i32.gt_u (i32.add (global.get $heap) (local.get $size)) (i32.const 131072))
      (then (global.set $heap (i32.const 8192))))
    (local.set $p (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (global.get $heap) (local.get $size)) (i32.const 7)) (i32.const -8)))
    (local.get $p))
  (func $result (param $len i32) (result i64)
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.extend_i32_u (local.get $len))))
  (func (export "astrid-hook-trigger") (param $ap i32) (param $al i32) (param $pp i32) (param $pl i32) (result i64)
    (local $op i32)
    (if (i32.eqz (call $config (i32.const 0) (i32.const 4) (i32.const 256) (i32.const 256) (i32.const 64)))
      (then (drop (call $publish (i32.const 256) (i32.load (i32.const 64)) (local.get $pp) (local.get $pl)))))
    (local.set $op (i32.load8_u (local.get $ap)))
    (if (i32.eq (local.get $op) (i32.const 116)) (then (unreachable))) ;; t
    (if (i32.eq (local.get $op) (i32.const 102)) ;; f
      (then (i32.store8 (i32.const 1024) (i32.const 1)) (return (call $result (i32.const 1)))))
    (if (i32.eq (local.get $op) (i32.const 100)) ;; d
      (then
        (i32.store8 (i32.const 1024) (i32.const 2))
        (i32.store8 (i32.const 1025) (i32.const 110))
        (i32.store8 (i32.const 1026) (i32.const 111))
        (return (call $result (i32.const 3)))))
    (if (i32.eq (local.get $op) (i32.const 114)) ;; r
      (then
        (i32.store8 (i32.const 1024) (i32.const 0))
        (memory.copy (i32.const 1025) (i32.add (local.get $ap) (i32.const 1)) (i32.sub (local.get $al) (i32.const 1)))
        (return (call $result (local.get $al)))))
    (if (i32.eq (local.get $op) (i32.const 115)) ;; s
      (then (drop (call $sleep (i64.const 100000000)))))
    (if (i32.eq (local.get $op) (i32.const 83)) ;; S
      (then (drop (call $sleep (i64.const 1000000000)))))
    (i32.store8 (i32.const 1024) (i32.const 0))
    (call $result (i32.const 1)))
)
