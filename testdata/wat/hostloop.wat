;; hostloop: a reactor whose exports run a loop in the guest, for the benchmarks that split the
;; cost of a publish from a capsule (hostfuncs/path_bench_test.go): the loop alone, a host call
;; that does nothing (signal-ready after the first), and publish. 2 pages of memory; grow adds
;; pages (TestMemoryGrowBetweenCalls).
(module
  (import "astrid:ipc@1.0.0" "publish" (func $publish (param i32 i32 i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "signal-ready" (func $ready (result i32)))
  (memory (export "memory") 2)
  ;; grow grows the memory by n pages and returns memory.grow's result (the old size in pages,
  ;; or -1).
  (func (export "grow") (param $n i32) (result i32)
    (memory.grow (local.get $n)))
  ;; empty_loop counts n down to zero and returns 0: the cost of one loop iteration.
  (func (export "empty_loop") (param $n i32) (result i32)
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
    (i32.const 0))
  ;; ready_loop calls signal-ready n times and returns the first non-zero code, else 0.
  (func (export "ready_loop") (param $n i32) (result i32)
    (local $code i32)
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $code (call $ready))
        (br_if $done (local.get $code))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
    (local.get $code))
  ;; publish_loop publishes [pp, pp+pl) on [tp, tp+tl) n times and returns the first non-zero
  ;; code, else 0.
  (func (export "publish_loop") (param $n i32) (param $tp i32) (param $tl i32) (param $pp i32) (param $pl i32) (result i32)
    (local $code i32)
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $code (call $publish (local.get $tp) (local.get $tl) (local.get $pp) (local.get $pl)))
        (br_if $done (local.get $code))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
    (local.get $code))
)
