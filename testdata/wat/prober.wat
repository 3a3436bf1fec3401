;; prober: signals ready, then publishes 200 probes {"probe":1} on "fair.in", one every 5 ms
;; (sleep-ns), then {} on "fair.done", and sleeps until the capsule stops.
(module
  (import "astrid:ipc@1.0.0" "publish" (func $publish (param i32 i32 i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "signal-ready" (func $ready (result i32)))
  (import "astrid:sys@1.0.0" "sleep-ns" (func $sleep (param i64) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "fair.in")
  (data (i32.const 16) "fair.done")
  (data (i32.const 32) "{\"probe\":1}")
  (data (i32.const 48) "{}")
  (func (export "run")
    (local $i i32)
    (drop (call $ready))
    (block $sent
      (loop $probe
        (br_if $sent (i32.eq (local.get $i) (i32.const 200)))
        (if (call $publish (i32.const 0) (i32.const 7) (i32.const 32) (i32.const 11)) (then (unreachable)))
        (drop (call $sleep (i64.const 5000000)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $probe)))
    (if (call $publish (i32.const 16) (i32.const 9) (i32.const 48) (i32.const 2)) (then (unreachable)))
    (loop $idle
      (br_if $idle (i32.eqz (call $sleep (i64.const 1000000000))))))
)
