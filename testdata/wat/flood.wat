;; flood: a hostile publisher. The export flood(n, topic_ptr, topic_len) publishes the 2-byte
;; payload {} n times on the topic and returns how many of those publishes were refused (any
;; non-zero code). Topics in memory: "flood" at 16 (5 bytes), "denied" at 32 (6 bytes).
;; logflood(n) calls sys log at info n times with the 100-byte message at 64 and returns how
;; many calls were refused.
;; As a run-loop capsule, run publishes 400 times on "flood" and then traps, so the capsule
;; crash-loops while flooding (a restarted flooder must not get a fresh rate budget).
(module
  (import "astrid:ipc@1.0.0" "publish" (func $publish (param i32 i32 i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{}")
  (data (i32.const 16) "flood")
  (data (i32.const 32) "denied")
  (data (i32.const 64) "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
  (func $flood (export "flood") (param $n i32) (param $tp i32) (param $tl i32) (result i32)
    (local $refused i32)
    (block $done
      (loop $again
        (br_if $done (i32.eqz (local.get $n)))
        (if (call $publish (local.get $tp) (local.get $tl) (i32.const 0) (i32.const 2))
          (then (local.set $refused (i32.add (local.get $refused) (i32.const 1)))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $again)))
    (local.get $refused))
  (func (export "logflood") (param $n i32) (result i32)
    (local $refused i32)
    (block $done
      (loop $again
        (br_if $done (i32.eqz (local.get $n)))
        (if (call $log (i32.const 2) (i32.const 64) (i32.const 100))
          (then (local.set $refused (i32.add (local.get $refused) (i32.const 1)))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $again)))
    (local.get $refused))
  (func (export "run")
    (drop (call $flood (i32.const 400) (i32.const 16) (i32.const 5)))
    unreachable)
)
