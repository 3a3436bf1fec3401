;; compute: CPU-bound exports without imports, for measuring the cost of a loop check — the
;; runtime's (internal/preempt's countdown) against wazero's WithCloseOnContextDone and none:
;; the compute scenario (compute.go) and internal/bench/compute_test.go.
;;   sum(n i64) -> i64: one loop of n iterations (one back-edge each), sum of i*i mod 2^64.
;;   fib(n i32) -> i32: naive recursive Fibonacci, no loop (function calls only).
;;   sieve(n i32) -> i32: primes below n (≤ 1 << 20) with a byte sieve in memory, nested loops
;;     (multiples are marked from i*i, for i ≤ 1024 so that i*i does not overflow).
(module
  (memory (export "memory") 17)
  (func (export "sum") (param $n i64) (result i64)
    (local $i i64) (local $s i64)
    (block $done
      (loop $l
        (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
        (local.set $s (i64.add (local.get $s) (i64.mul (local.get $i) (local.get $i))))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $l)))
    (local.get $s))
  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add
        (call $fib (i32.sub (local.get $n) (i32.const 1)))
        (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  (func (export "sieve") (param $n i32) (result i32)
    (local $i i32) (local $j i32) (local $count i32)
    (if (i32.gt_u (local.get $n) (i32.const 1048576)) (then (unreachable)))
    (memory.fill (i32.const 0) (i32.const 0) (local.get $n))
    (local.set $i (i32.const 2))
    (block $done
      (loop $outer
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (block $next
        (if (i32.eqz (i32.load8_u (local.get $i)))
          (then
            (local.set $count (i32.add (local.get $count) (i32.const 1)))
            (br_if $next (i32.gt_u (local.get $i) (i32.const 1024)))
            (local.set $j (i32.mul (local.get $i) (local.get $i)))
            (block $marked
              (loop $inner
                (br_if $marked (i32.ge_u (local.get $j) (local.get $n)))
                (i32.store8 (local.get $j) (i32.const 1))
                (local.set $j (i32.add (local.get $j) (local.get $i)))
                (br $inner))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $outer)))
    (local.get $count))
)
