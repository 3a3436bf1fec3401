;; spin: guests that never return on their own, for the stop tests of preempt_test.go. Each
;; export first calls env.started (so the test knows the guest runs), then:
;;   tight: an empty loop; nested: an inner loop of 2^20 iterations inside an endless loop;
;;   fib(n): naive recursive Fibonacci, no loop at all (fib 50 takes hours).
(module
  (import "env" "started" (func $started))
  (func (export "tight") (call $started) (loop $l (br $l)))
  (func (export "nested")
    (local $i i32)
    (call $started)
    (loop $outer
      (local.set $i (i32.const 0))
      (loop $inner
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $inner (i32.lt_u (local.get $i) (i32.const 1048576))))
      (br $outer)))
  (func (export "fib") (param $n i32) (result i32)
    (call $started)
    (call $fib (local.get $n)))
  (func $fib (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add
        (call $fib (i32.sub (local.get $n) (i32.const 1)))
        (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
)
