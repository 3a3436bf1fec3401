;; ping: the demo's requester. It subscribes "demo.start" and "demo.pong", signals ready, and for
;; every message on demo.start sends 3 requests {"n":1}, {"n":2}, {"n":3} on "demo.ping", one at
;; a time: after each it waits (recv, up to 5 s) for the reply on demo.pong. Then it publishes
;; {"pings":N} on "demo.done", N being the number of replies it got. It returns from run when
;; recv reports cancelled (11) or closed (3): the capsule is stopping.
(module
  (import "astrid:ipc@1.0.0" "publish" (func $publish (param i32 i32 i32 i32) (result i32)))
  (import "astrid:ipc@1.0.0" "subscribe" (func $subscribe (param i32 i32 i32) (result i32)))
  (import "astrid:ipc@1.0.0" "subscription-recv" (func $recv (param i32 i64 i32 i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "signal-ready" (func $ready (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "demo.start")        ;; 10 bytes
  (data (i32.const 16) "demo.pong")        ;; 9 bytes
  (data (i32.const 32) "demo.ping")        ;; 9 bytes
  (data (i32.const 48) "demo.done")        ;; 9 bytes
  (data (i32.const 64) "{\"n\":0}")        ;; 7 bytes, the digit at 69
  (data (i32.const 80) "{\"pings\":0}")    ;; 11 bytes, the digit at 89
  ;; 128: demo.start handle, 132: demo.pong handle, 136: len_out,
  ;; 1024..5119: demo.start envelopes, 8192..73727: demo.pong envelopes
  (func $stopping (param $code i32) (result i32)
    (i32.or (i32.eq (local.get $code) (i32.const 11)) (i32.eq (local.get $code) (i32.const 3))))
  (func (export "run")
    (local $code i32) (local $count i32) (local $i i32) (local $replies i32)
    ;; Subscribe to the replies before anything can trigger a request.
    (if (call $subscribe (i32.const 16) (i32.const 9) (i32.const 132)) (then (unreachable)))
    (if (call $subscribe (i32.const 0) (i32.const 10) (i32.const 128)) (then (unreachable)))
    (drop (call $ready))
    (loop $wait
      (local.set $code (call $recv (i32.load (i32.const 128)) (i64.const 60000) (i32.const 1024) (i32.const 4096) (i32.const 136)))
      (if (call $stopping (local.get $code)) (then (return)))
      (if (local.get $code) (then (unreachable)))
      ;; one round of 3 requests per demo.start message
      (local.set $count (i32.load (i32.const 1024)))
      (block $rounds_done
        (loop $rounds
          (br_if $rounds_done (i32.eqz (local.get $count)))
          (local.set $replies (i32.const 0))
          (local.set $i (i32.const 1))
          (block $pings_done
            (loop $pings
              (br_if $pings_done (i32.gt_u (local.get $i) (i32.const 3)))
              (i32.store8 (i32.const 69) (i32.add (i32.const 48) (local.get $i)))
              (drop (call $publish (i32.const 32) (i32.const 9) (i32.const 64) (i32.const 7)))
              (local.set $code (call $recv (i32.load (i32.const 132)) (i64.const 5000) (i32.const 8192) (i32.const 65536) (i32.const 136)))
              (if (call $stopping (local.get $code)) (then (return)))
              (if (i32.and (i32.eqz (local.get $code)) (i32.ne (i32.load (i32.const 8192)) (i32.const 0)))
                (then (local.set $replies (i32.add (local.get $replies) (i32.const 1)))))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br $pings)))
          (i32.store8 (i32.const 89) (i32.add (i32.const 48) (local.get $replies)))
          (drop (call $publish (i32.const 48) (i32.const 9) (i32.const 80) (i32.const 11)))
          (local.set $count (i32.sub (local.get $count) (i32.const 1)))
          (br $rounds)))
      (br $wait)))
)
