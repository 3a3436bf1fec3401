;; benchsink: benchmark subscriber. Subscribes "bench.data", signals ready, and drains it with
;; recv in batches. It counts delivered plus dropped messages; each time the count reaches the
;; decimal value of config key "n" it publishes the number of dropped messages (a JSON number)
;; on "bench.done" and starts counting again. One batch may complete several counts: it then
;; publishes one report per count (unlike testdata/wat/benchsink.wat, which reports once per
;; batch).
(module
  (import "astrid:ipc@1.0.0" "publish" (func $publish (param i32 i32 i32 i32) (result i32)))
  (import "astrid:ipc@1.0.0" "subscribe" (func $subscribe (param i32 i32 i32) (result i32)))
  (import "astrid:ipc@1.0.0" "subscription-recv" (func $recv (param i32 i64 i32 i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "signal-ready" (func $ready (result i32)))
  (import "astrid:sys@1.0.0" "get-config" (func $config (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 40)
  (data (i32.const 0) "bench.data")
  (data (i32.const 16) "bench.done")
  (data (i32.const 32) "n")
  ;; 40: handle, 44: len_out, 48..63: config value, 64..95: decimal output, 4096..: envelope buffer (1.5 MiB)
  (func $digits (param $p i32) (param $len i32) (result i32)
    (local $n i32) (local $c i32) (local $end i32)
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (block $out
      (loop $l
        (br_if $out (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.sub (i32.load8_u (local.get $p)) (i32.const 48)))
        (if (i32.lt_u (local.get $c) (i32.const 10))
          (then (local.set $n (i32.add (i32.mul (local.get $n) (i32.const 10)) (local.get $c)))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $l)))
    (local.get $n))
  ;; writes n in decimal ending at 96, returns the start offset
  (func $itoa (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (i32.const 96))
    (loop $l
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $l (local.get $n)))
    (local.get $p))
  (func (export "run")
    (local $code i32) (local $want i32) (local $got i32) (local $dropped i32) (local $p i32)
    (if (call $config (i32.const 32) (i32.const 1) (i32.const 48) (i32.const 16) (i32.const 44)) (then (unreachable)))
    (local.set $want (call $digits (i32.const 48) (i32.load (i32.const 44))))
    (if (call $subscribe (i32.const 0) (i32.const 10) (i32.const 40)) (then (unreachable)))
    (drop (call $ready))
    (loop $wait
      (local.set $code (call $recv (i32.load (i32.const 40)) (i64.const 60000) (i32.const 4096) (i32.const 1572864) (i32.const 44)))
      (if (i32.ne (local.get $code) (i32.const 0)) (then (return)))
      (local.set $got (i32.add (local.get $got)
        (i32.add (i32.load (i32.const 4096)) (i32.wrap_i64 (i64.load (i32.const 4104))))))
      (local.set $dropped (i32.add (local.get $dropped) (i32.wrap_i64 (i64.load (i32.const 4104)))))
      (block $reported
        (loop $report
          (br_if $reported (i32.lt_u (local.get $got) (local.get $want)))
          (local.set $p (call $itoa (local.get $dropped)))
          (drop (call $publish (i32.const 16) (i32.const 10) (local.get $p) (i32.sub (i32.const 96) (local.get $p))))
          (local.set $got (i32.sub (local.get $got) (local.get $want)))
          (local.set $dropped (i32.const 0))
          (br $report)))
      (br $wait)))
)
