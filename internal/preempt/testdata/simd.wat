;; simd: SIMD, bulk memory, saturating truncation and sign-extension instructions, whose
;; immediates the instrumentation must decode to find the loops after them.
(module
  (memory (export "memory") 1)
  (func (export "lanes") (param $n i32) (result i32)
    (local $v v128) (local $i i32)
    (local.set $v (v128.const i32x4 1 2 3 4))
    (loop $l
      (local.set $v (i32x4.add (local.get $v) (i8x16.shuffle 4 5 6 7 0 1 2 3 12 13 14 15 8 9 10 11 (local.get $v) (local.get $v))))
      (v128.store offset=16 (i32.const 0) (local.get $v))
      (local.set $v (v128.load32_lane 1 (i32.const 16) (local.get $v)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (memory.fill (i32.const 64) (i32.const 7) (i32.const 8))
    (memory.copy (i32.const 72) (i32.const 64) (i32.const 8))
    (i32.add
      (i32.add (i32x4.extract_lane 2 (local.get $v)) (i32.load8_u (i32.const 79)))
      (i32.add (i32.trunc_sat_f64_s (f64.const 1e12)) (i32.extend8_s (i32.const 0x80)))))
)
