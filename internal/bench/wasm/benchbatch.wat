;; benchbatch: benchmark publisher using publish-batch (astrid:ipc@1.1.0). Like benchpub: reads
;; its payload from config key "payload" (up to 1 MiB; memory grows to fit; a built-in 128-byte
;; JSON object when the key is missing), subscribes "bench.go" and signals ready. Config key
;; "batch" is the number of records per publish-batch call (decimal, default 64, clamped to
;; 1..1024 and to what fits the 4 MiB records limit). It builds one records buffer of that many
;; identical records (topic "bench.data", the payload) once; for every message it receives,
;; whose payload is a decimal JSON number N, it publishes N messages with publish-batch calls
;; of that many records (the last call carries the rest), trapping if a call does not publish
;; every record, then waits for the next "bench.go".
(module
  (import "astrid:ipc@1.1.0" "publish-batch" (func $batch (param i32 i32 i32) (result i32)))
  (import "astrid:ipc@1.1.0" "subscribe" (func $subscribe (param i32 i32 i32) (result i32)))
  (import "astrid:ipc@1.1.0" "subscription-recv" (func $recv (param i32 i64 i32 i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "signal-ready" (func $ready (result i32)))
  (import "astrid:sys@1.0.0" "get-config" (func $config (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "bench.go")
  (data (i32.const 16) "bench.data")
  (data (i32.const 40) "payload")
  (data (i32.const 48) "batch")
  ;; default 128-byte payload at 256
  (data (i32.const 256) "{\"kind\":\"bench\",\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}")
  ;; 32: handle, 36: len_out, 44: accepted, 64..95: batch config value, 1024..5119: envelope
  ;; buffer, 65536..: payload from config, then the records buffer

  ;; ensure grows memory so that [0, end) is inside it.
  (func $ensure (param $end i32)
    (local $have i32)
    (local.set $have (i32.mul (memory.size) (i32.const 65536)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.eq (memory.grow (i32.div_u (i32.add (i32.sub (local.get $end) (local.get $have)) (i32.const 65535)) (i32.const 65536)))
                    (i32.const -1))
          (then (unreachable))))))

  ;; getcfg copies the value of config key [k, k+kl) to dst, growing memory as needed. It
  ;; returns the value's length, or -1 when the key is missing.
  (func $getcfg (param $k i32) (param $kl i32) (param $dst i32) (result i32)
    (local $code i32)
    (call $ensure (i32.add (local.get $dst) (i32.const 1)))
    (local.set $code (call $config (local.get $k) (local.get $kl) (local.get $dst)
      (i32.sub (i32.mul (memory.size) (i32.const 65536)) (local.get $dst)) (i32.const 36)))
    (if (i32.eq (local.get $code) (i32.const 9))
      (then
        (call $ensure (i32.add (local.get $dst) (i32.load (i32.const 36))))
        (local.set $code (call $config (local.get $k) (local.get $kl) (local.get $dst)
          (i32.sub (i32.mul (memory.size) (i32.const 65536)) (local.get $dst)) (i32.const 36)))))
    (if (local.get $code) (then (return (i32.const -1))))
    (i32.load (i32.const 36)))

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

  ;; publish publishes the first k records of the buffer at $rp (records of $rs bytes) and
  ;; traps unless all k were published.
  (func $publish (param $rp i32) (param $rs i32) (param $k i32)
    (if (call $batch (local.get $rp) (i32.mul (local.get $rs) (local.get $k)) (i32.const 44)) (then (unreachable)))
    (if (i32.ne (i32.load (i32.const 44)) (local.get $k)) (then (unreachable))))

  (func (export "run")
    (local $code i32) (local $n i32) (local $tl i32) (local $pp i32) (local $pl i32)
    (local $b i32) (local $rp i32) (local $rs i32) (local $i i32) (local $at i32)
    (local.set $pp (i32.const 256))
    (local.set $pl (i32.const 128))
    (local.set $code (call $getcfg (i32.const 40) (i32.const 7) (i32.const 65536)))
    (if (i32.ge_s (local.get $code) (i32.const 0))
      (then (local.set $pp (i32.const 65536)) (local.set $pl (local.get $code))))
    ;; records per call: config "batch" (copied to 64..95) or 64, clamped
    (local.set $b (i32.const 64))
    (if (i32.eqz (call $config (i32.const 48) (i32.const 5) (i32.const 64) (i32.const 32) (i32.const 36)))
      (then (local.set $b (call $digits (i32.const 64) (i32.load (i32.const 36))))))
    (local.set $rs (i32.add (i32.const 18) (local.get $pl)))
    (if (i32.gt_u (i32.mul (local.get $b) (local.get $rs)) (i32.const 4194304))
      (then (local.set $b (i32.div_u (i32.const 4194304) (local.get $rs)))))
    (if (i32.gt_u (local.get $b) (i32.const 1024)) (then (local.set $b (i32.const 1024))))
    (if (i32.eqz (local.get $b)) (then (local.set $b (i32.const 1))))
    ;; the records buffer, 8-aligned after the payload
    (local.set $rp (i32.and (i32.add (i32.add (i32.const 65536) (local.get $pl)) (i32.const 7)) (i32.const -8)))
    (call $ensure (i32.add (local.get $rp) (i32.mul (local.get $b) (local.get $rs))))
    (local.set $at (local.get $rp))
    (block $built
      (loop $build
        (br_if $built (i32.ge_u (local.get $i) (local.get $b)))
        (i32.store (local.get $at) (i32.const 10))
        (i32.store (i32.add (local.get $at) (i32.const 4)) (local.get $pl))
        (memory.copy (i32.add (local.get $at) (i32.const 8)) (i32.const 16) (i32.const 10))
        (memory.copy (i32.add (local.get $at) (i32.const 18)) (local.get $pp) (local.get $pl))
        (local.set $at (i32.add (local.get $at) (local.get $rs)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $build)))
    (if (call $subscribe (i32.const 0) (i32.const 8) (i32.const 32)) (then (unreachable)))
    (drop (call $ready))
    (loop $wait
      (local.set $code (call $recv (i32.load (i32.const 32)) (i64.const 60000) (i32.const 1024) (i32.const 4096) (i32.const 36)))
      (if (i32.ne (local.get $code) (i32.const 0)) (then (return)))
      (if (i32.load (i32.const 1024))
        (then
          (local.set $tl (i32.load (i32.const 1048)))
          (local.set $n (call $digits
            (i32.add (i32.const 1096) (local.get $tl))
            (i32.load (i32.const 1052))))
          (block $done
            (loop $pub
              (br_if $done (i32.lt_u (local.get $n) (local.get $b)))
              (call $publish (local.get $rp) (local.get $rs) (local.get $b))
              (local.set $n (i32.sub (local.get $n) (local.get $b)))
              (br $pub)))
          (if (local.get $n) (then (call $publish (local.get $rp) (local.get $rs) (local.get $n))))))
      (br $wait)))
)
