;; trap: a named function traps three calls deep (and after a loop), so that the stack trace
;; names the functions; the instrumentation must keep those names (the name section).
(module
  (func $outer_fn (export "run") (param $n i32) (result i32) (call $middle_fn (local.get $n)))
  (func $middle_fn (param $n i32) (result i32)
    (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (call $deep_trap (local.get $i)))
  (func $deep_trap (param $v i32) (result i32) (unreachable))
)
