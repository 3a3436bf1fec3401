;; hold: subscribes "hold.in" and never reads it unless told to, subscribes "hold.ctl" and
;; signals ready. The first byte of each control message's payload says what to do:
;;   1  trap (unreachable)      2  return from run (a normal exit)
;;   3  drain one batch of "hold.in" (subscription-poll into a 64 KiB buffer)
;; Anything else is ignored. It returns when recv reports cancelled or closed.
(module
  (import "astrid:ipc@1.0.0" "subscribe" (func $subscribe (param i32 i32 i32) (result i32)))
  (import "astrid:ipc@1.0.0" "subscription-recv" (func $recv (param i32 i64 i32 i32 i32) (result i32)))
  (import "astrid:ipc@1.0.0" "subscription-poll" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "signal-ready" (func $ready (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "hold.in")
  (data (i32.const 16) "hold.ctl")
  ;; 32: hold.in handle, 40: hold.ctl handle, 36: len_out,
  ;; 1024..5119: control envelope, 8192..73727: hold.in envelope
  (func (export "run")
    (local $op i32)
    (if (call $subscribe (i32.const 0) (i32.const 7) (i32.const 32)) (then (unreachable)))
    (if (call $subscribe (i32.const 16) (i32.const 8) (i32.const 40)) (then (unreachable)))
    (drop (call $ready))
    (loop $wait
      (if (call $recv (i32.load (i32.const 40)) (i64.const 60000) (i32.const 1024) (i32.const 4096) (i32.const 36))
        (then (return)))
      (if (i32.load (i32.const 1024))
        (then
          ;; the first record's payload follows the 24-byte header, the 48-byte record
          ;; header and the topic
          (local.set $op (i32.load8_u (i32.add (i32.const 1096) (i32.load (i32.const 1048)))))
          (if (i32.eq (local.get $op) (i32.const 49)) (then (unreachable)))
          (if (i32.eq (local.get $op) (i32.const 50)) (then (return)))
          (if (i32.eq (local.get $op) (i32.const 51))
            (then (drop (call $poll (i32.load (i32.const 32)) (i32.const 8192) (i32.const 65536) (i32.const 36)))))))
      (br $wait)))
)
