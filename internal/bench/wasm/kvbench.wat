;; kvbench: astrid:kv load generator. Subscribes "kv.go" and signals ready. Every "kv.go"
;; message's payload is a JSON string "sN" or "gN" (N decimal): "s" runs N kv-set calls of a
;; 100-byte value on keys "k" + 8 hex digits (the capsule's running set count, so each set
;; writes a new key), "g" runs N kv-get calls over the keys it has set (it traps if it has set
;; none). Each call is timed with clock-monotonic-ns; the N samples (ns) are then published
;; on "kv.samples" as JSON arrays of up to 2000 numbers. A failed call or publish traps.
(module
  (import "astrid:ipc@1.0.0" "publish" (func $publish (param i32 i32 i32 i32) (result i32)))
  (import "astrid:ipc@1.0.0" "subscribe" (func $subscribe (param i32 i32 i32) (result i32)))
  (import "astrid:ipc@1.0.0" "subscription-recv" (func $recv (param i32 i64 i32 i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "signal-ready" (func $ready (result i32)))
  (import "astrid:sys@1.0.0" "clock-monotonic-ns" (func $now (result i64)))
  (import "astrid:kv@1.0.0" "kv-set" (func $set (param i32 i32 i32 i32) (result i32)))
  (import "astrid:kv@1.0.0" "kv-get" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "kv.go")
  (data (i32.const 8) "kv.samples")
  (data (i32.const 32) "0123456789abcdef")
  ;; 48: "kv.go" handle, 56: len_out, 60: keys set so far, 96..104: key "k"+8 hex,
  ;; 128..227: the value (zeros), 512..767: get buffer, 1024..5119: envelope buffer,
  ;; 65536..131071: output buffer, 131072..: samples (8 bytes each; memory grows).

  (func $ensure (param $end i32)
    (local $have i32)
    (local.set $have (i32.mul (memory.size) (i32.const 65536)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.eq (memory.grow (i32.div_u (i32.add (i32.sub (local.get $end) (local.get $have)) (i32.const 65535)) (i32.const 65536)))
                    (i32.const -1))
          (then (unreachable))))))

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

  ;; key writes "k" + the 8 hex digits of i at 96.
  (func $key (param $i i32)
    (local $d i32)
    (i32.store8 (i32.const 96) (i32.const 107)) ;; k
    (local.set $d (i32.const 8))
    (loop $h
      (i32.store8 (i32.add (i32.const 96) (local.get $d))
        (i32.load8_u (i32.add (i32.const 32) (i32.and (local.get $i) (i32.const 15)))))
      (local.set $i (i32.shr_u (local.get $i) (i32.const 4)))
      (local.set $d (i32.sub (local.get $d) (i32.const 1)))
      (br_if $h (local.get $d))))

  ;; chunk publishes samples [j0, j1) of the i64 array at s as a JSON array, written backwards
  ;; from the end of the 64 KiB output buffer at 65536.
  (func $chunk (param $s i32) (param $j0 i32) (param $j1 i32)
    (local $pos i32) (local $k i32) (local $v i64)
    (local.set $pos (i32.const 131071))
    (i32.store8 (local.get $pos) (i32.const 93)) ;; ]
    (local.set $k (local.get $j1))
    (block $done
      (loop $each
        (br_if $done (i32.le_u (local.get $k) (local.get $j0)))
        (local.set $k (i32.sub (local.get $k) (i32.const 1)))
        (local.set $v (i64.load (i32.add (local.get $s) (i32.shl (local.get $k) (i32.const 3)))))
        (loop $dig
          (local.set $pos (i32.sub (local.get $pos) (i32.const 1)))
          (i32.store8 (local.get $pos)
            (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $v) (i64.const 10)))))
          (local.set $v (i64.div_u (local.get $v) (i64.const 10)))
          (br_if $dig (i64.ne (local.get $v) (i64.const 0))))
        (if (i32.gt_u (local.get $k) (local.get $j0))
          (then
            (local.set $pos (i32.sub (local.get $pos) (i32.const 1)))
            (i32.store8 (local.get $pos) (i32.const 44)))) ;; ,
        (br $each)))
    (local.set $pos (i32.sub (local.get $pos) (i32.const 1)))
    (i32.store8 (local.get $pos) (i32.const 91)) ;; [
    (if (call $publish (i32.const 8) (i32.const 10) (local.get $pos)
          (i32.sub (i32.const 131072) (local.get $pos)))
      (then (unreachable))))

  (func (export "run")
    (local $code i32) (local $n i32) (local $i i32) (local $j i32) (local $tl i32)
    (local $p i32) (local $isget i32) (local $t0 i64)
    (call $ensure (i32.const 131072))
    (if (call $subscribe (i32.const 0) (i32.const 5) (i32.const 48)) (then (unreachable)))
    (drop (call $ready))
    (loop $wait
      (local.set $code (call $recv (i32.load (i32.const 48)) (i64.const 60000) (i32.const 1024) (i32.const 4096) (i32.const 56)))
      (if (local.get $code) (then (return)))
      (if (i32.load (i32.const 1024))
        (then
          (local.set $tl (i32.load (i32.const 1048)))
          (local.set $p (i32.add (i32.const 1096) (local.get $tl))) ;; payload: "sN" or "gN"
          (local.set $isget (i32.eq (i32.load8_u (i32.add (local.get $p) (i32.const 1))) (i32.const 103)))
          (local.set $n (call $digits (local.get $p) (i32.load (i32.const 1052))))
          (if (i32.and (local.get $isget) (i32.eqz (i32.load (i32.const 60)))) (then (unreachable)))
          (call $ensure (i32.add (i32.const 131072) (i32.shl (local.get $n) (i32.const 3))))
          (local.set $i (i32.const 0))
          (block $done
            (loop $op
              (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
              (if (local.get $isget)
                (then (call $key (i32.rem_u (local.get $i) (i32.load (i32.const 60)))))
                (else (call $key (i32.load (i32.const 60)))))
              (local.set $t0 (call $now))
              (if (local.get $isget)
                (then
                  (if (call $get (i32.const 96) (i32.const 9) (i32.const 512) (i32.const 256) (i32.const 56)) (then (unreachable))))
                (else
                  (if (call $set (i32.const 96) (i32.const 9) (i32.const 128) (i32.const 100)) (then (unreachable)))
                  (i32.store (i32.const 60) (i32.add (i32.load (i32.const 60)) (i32.const 1)))))
              (i64.store (i32.add (i32.const 131072) (i32.shl (local.get $i) (i32.const 3)))
                (i64.sub (call $now) (local.get $t0)))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br $op)))
          (local.set $j (i32.const 0))
          (block $sent
            (loop $ch
              (br_if $sent (i32.ge_u (local.get $j) (local.get $n)))
              (call $chunk (i32.const 131072) (local.get $j)
                (select (local.get $n) (i32.add (local.get $j) (i32.const 2000))
                  (i32.lt_u (local.get $n) (i32.add (local.get $j) (i32.const 2000)))))
              (local.set $j (i32.add (local.get $j) (i32.const 2000)))
              (br $ch)))))
      (br $wait)))
)
