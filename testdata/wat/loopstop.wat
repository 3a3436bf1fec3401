;; loopstop: run(n i64) calls env.started, loops n times summing i*i with no host call inside
;; the loop, then calls env.finished with the sum. For internal/bench/compute_test.go: the host
;; closes the module inside started, and finished tells whether the loop ran to its end.
(module
  (import "env" "started" (func $started))
  (import "env" "finished" (func $finished (param i64)))
  (func (export "run") (param $n i64)
    (local $i i64) (local $s i64)
    (call $started)
    (block $done
      (loop $l
        (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
        (local.set $s (i64.add (local.get $s) (i64.mul (local.get $i) (local.get $i))))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $l)))
    (call $finished (local.get $s)))
)
