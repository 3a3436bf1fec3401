;; rttreq: request/reply round-trip requester. Reads its request payload from config key
;; "payload" (a built-in 14-byte JSON object when missing), subscribes "rtt.go" and "rtt.rep"
;; and signals ready. For every "rtt.go" message, whose payload is a decimal JSON number N, it
;; runs N round trips: t0 = clock-monotonic-ns, publish the payload on "rtt.req", recv the
;; reply on "rtt.rep", t1 = clock-monotonic-ns, keep t1 - t0 in memory. Then it publishes the
;; N samples (nanoseconds) on "rtt.samples" as JSON arrays of up to 2000 numbers each (in no
;; particular order) and waits for the next "rtt.go". A failed publish traps.
(module
  (import "astrid:ipc@1.0.0" "publish" (func $publish (param i32 i32 i32 i32) (result i32)))
  (import "astrid:ipc@1.0.0" "subscribe" (func $subscribe (param i32 i32 i32) (result i32)))
  (import "astrid:ipc@1.0.0" "subscription-recv" (func $recv (param i32 i64 i32 i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "signal-ready" (func $ready (result i32)))
  (import "astrid:sys@1.0.0" "get-config" (func $config (param i32 i32 i32 i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "clock-monotonic-ns" (func $now (result i64)))
  (memory (export "memory") 2)
  (data (i32.const 0) "rtt.go")
  (data (i32.const 8) "rtt.rep")
  (data (i32.const 16) "rtt.req")
  (data (i32.const 24) "rtt.samples")
  (data (i32.const 40) "payload")
  (data (i32.const 64) "{\"kind\":\"rtt\"}")
  ;; 48: "rtt.go" handle, 52: "rtt.rep" handle, 56: len_out, 1024..5119: "rtt.go" envelope
  ;; buffer, 65536..: payload, then the reply buffer, the output buffer (64 KiB) and the samples.

  (func $ensure (param $end i32)
    (local $have i32)
    (local.set $have (i32.mul (memory.size) (i32.const 65536)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.eq (memory.grow (i32.div_u (i32.add (i32.sub (local.get $end) (local.get $have)) (i32.const 65535)) (i32.const 65536)))
                    (i32.const -1))
          (then (unreachable))))))

  (func $getcfg (param $k i32) (param $kl i32) (param $dst i32) (result i32)
    (local $code i32)
    (local.set $code (call $config (local.get $k) (local.get $kl) (local.get $dst)
      (i32.sub (i32.mul (memory.size) (i32.const 65536)) (local.get $dst)) (i32.const 56)))
    (if (i32.eq (local.get $code) (i32.const 9))
      (then
        (call $ensure (i32.add (local.get $dst) (i32.load (i32.const 56))))
        (local.set $code (call $config (local.get $k) (local.get $kl) (local.get $dst)
          (i32.sub (i32.mul (memory.size) (i32.const 65536)) (local.get $dst)) (i32.const 56)))))
    (if (local.get $code) (then (return (i32.const -1))))
    (i32.load (i32.const 56)))

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

  ;; chunk publishes samples [j0, j1) of the i64 array at s as a JSON array, written backwards
  ;; from the end of the 64 KiB output buffer at o.
  (func $chunk (param $s i32) (param $j0 i32) (param $j1 i32) (param $o i32)
    (local $pos i32) (local $k i32) (local $v i64)
    (local.set $pos (i32.add (local.get $o) (i32.const 65535)))
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
    (if (call $publish (i32.const 24) (i32.const 11) (local.get $pos)
          (i32.sub (i32.add (local.get $o) (i32.const 65536)) (local.get $pos)))
      (then (unreachable))))

  (func (export "run")
    (local $code i32) (local $n i32) (local $i i32) (local $j i32) (local $tl i32)
    (local $pp i32) (local $pl i32) (local $e i32) (local $ecap i32) (local $o i32) (local $s i32)
    (local $t0 i64)
    (local.set $pp (i32.const 64))
    (local.set $pl (i32.const 14))
    (local.set $code (call $getcfg (i32.const 40) (i32.const 7) (i32.const 65536)))
    (if (i32.ge_s (local.get $code) (i32.const 0))
      (then (local.set $pp (i32.const 65536)) (local.set $pl (local.get $code))))
    (local.set $e (i32.and (i32.add (i32.add (i32.const 65536) (local.get $pl)) (i32.const 7)) (i32.const -8)))
    (local.set $ecap (i32.add (local.get $pl) (i32.const 1024)))
    (local.set $o (i32.and (i32.add (i32.add (local.get $e) (local.get $ecap)) (i32.const 7)) (i32.const -8)))
    (local.set $s (i32.add (local.get $o) (i32.const 65536)))
    (call $ensure (local.get $s))
    (if (call $subscribe (i32.const 0) (i32.const 6) (i32.const 48)) (then (unreachable)))
    (if (call $subscribe (i32.const 8) (i32.const 7) (i32.const 52)) (then (unreachable)))
    (drop (call $ready))
    (loop $wait
      (local.set $code (call $recv (i32.load (i32.const 48)) (i64.const 60000) (i32.const 1024) (i32.const 4096) (i32.const 56)))
      (if (local.get $code) (then (return)))
      (if (i32.load (i32.const 1024))
        (then
          (local.set $tl (i32.load (i32.const 1048)))
          (local.set $n (call $digits (i32.add (i32.const 1096) (local.get $tl)) (i32.load (i32.const 1052))))
          (call $ensure (i32.add (local.get $s) (i32.shl (local.get $n) (i32.const 3))))
          (local.set $i (i32.const 0))
          (block $done
            (loop $rt
              (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
              (local.set $t0 (call $now))
              (if (call $publish (i32.const 16) (i32.const 7) (local.get $pp) (local.get $pl)) (then (unreachable)))
              (loop $rep
                (local.set $code (call $recv (i32.load (i32.const 52)) (i64.const 60000) (local.get $e) (local.get $ecap) (i32.const 56)))
                (if (local.get $code) (then (return)))
                (br_if $rep (i32.eqz (i32.load (local.get $e)))))
              (i64.store (i32.add (local.get $s) (i32.shl (local.get $i) (i32.const 3)))
                (i64.sub (call $now) (local.get $t0)))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br $rt)))
          (local.set $j (i32.const 0))
          (block $sent
            (loop $ch
              (br_if $sent (i32.ge_u (local.get $j) (local.get $n)))
              (call $chunk (local.get $s) (local.get $j)
                (select (local.get $n) (i32.add (local.get $j) (i32.const 2000))
                  (i32.lt_u (local.get $n) (i32.add (local.get $j) (i32.const 2000))))
                (local.get $o))
              (local.set $j (i32.add (local.get $j) (i32.const 2000)))
              (br $ch)))))
      (br $wait)))
)
