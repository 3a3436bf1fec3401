;; loops: loops whose branches cross the code the instrumentation inserts at loop headers and
;; function entries. Each export computes a known result (preempt_test.go).
;;   count(n) -> n, one loop; nested(a, b) -> a*b, two nested loops with br_if to the outer
;;   loop and br out of both; multi(n) -> (n*(n+1)/2, n), a loop with a parameter and two
;;   results carried around (multi-value block type); table(k) -> a br_table across three
;;   nesting levels inside a loop.
(module
  (type $acc (func (param i32 i32) (result i32 i32)))
  (func (export "count") (param $n i32) (result i32)
    (local $i i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $i))
  (func (export "nested") (param $a i32) (param $b i32) (result i32)
    (local $i i32) (local $j i32) (local $s i32)
    (block $out
      (loop $outer
        (br_if $out (i32.ge_u (local.get $i) (local.get $a)))
        (local.set $j (i32.const 0))
        (loop $inner
          (if (i32.lt_u (local.get $j) (local.get $b))
            (then
              (local.set $s (i32.add (local.get $s) (i32.const 1)))
              (local.set $j (i32.add (local.get $j) (i32.const 1)))
              (br $inner))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $outer)))
    (local.get $s))
  (func (export "multi") (param $n i32) (result i32 i32)
    (local $k i32) (local $s i32)
    (i32.const 0) (local.get $n)
    (loop $l (type $acc)
      ;; stack: sum k
      (local.set $k)
      (local.set $s)
      (local.set $s (i32.add (local.get $s) (local.get $k)))
      (local.set $k (i32.sub (local.get $k) (i32.const 1)))
      (local.get $s) (local.get $k)
      (br_if $l (i32.ne (local.get $k) (i32.const 0))))
    (drop)
    (local.get $n))
  (func (export "table") (param $k i32) (result i32)
    (local $i i32) (local $r i32)
    (block $exit
      (loop $l
        (block $c (block $b (block $a
          (br_table $a $b $c $exit (local.get $k)))
          (local.set $r (i32.add (local.get $r) (i32.const 1)))
          (local.set $k (i32.const 1))
          (br $l))
          (local.set $r (i32.add (local.get $r) (i32.const 10)))
          (local.set $k (i32.const 2))
          (br $l))
        (local.set $r (i32.add (local.get $r) (i32.const 100)))
        (local.set $k (i32.const 3))
        (br $l)))
    (local.get $r))
)
