;; counter: the demo's durable state. It subscribes "demo.tick" and signals ready. For every
;; message there it reads the decimal counter stored under the key "count" of its astrid:kv
;; namespace (absent: 0), adds one, stores it (kv-set returns once it is durable) and
;; publishes {"n":N} on "demo.count". A tick whose payload is the JSON string "crash" makes it
;; trap instead; the restarted instance continues from the stored value. It returns from run
;; when recv reports cancelled (11) or closed (3): the capsule is stopping.
(module
  (import "astrid:ipc@1.0.0" "publish" (func $publish (param i32 i32 i32 i32) (result i32)))
  (import "astrid:ipc@1.0.0" "subscribe" (func $subscribe (param i32 i32 i32) (result i32)))
  (import "astrid:ipc@1.0.0" "subscription-recv" (func $recv (param i32 i64 i32 i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "signal-ready" (func $ready (result i32)))
  (import "astrid:kv@1.0.0" "kv-get" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (import "astrid:kv@1.0.0" "kv-set" (func $set (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "demo.tick")   ;; 9 bytes
  (data (i32.const 16) "demo.count") ;; 10 bytes
  (data (i32.const 32) "count")      ;; 5 bytes
  (data (i32.const 160) "{\"n\":")   ;; 5 bytes
  ;; 48: handle, 52: len_out, 128..159: the stored value, 165..: digits of the reply,
  ;; 1024..9215: envelope buffer

  ;; tick adds one to the stored counter and publishes it.
  (func $tick
    (local $code i32) (local $n i32) (local $p i32) (local $end i32) (local $len i32) (local $v i32)
    (local.set $code (call $get (i32.const 32) (i32.const 5) (i32.const 128) (i32.const 32) (i32.const 52)))
    (if (i32.eq (local.get $code) (i32.const 0))
      (then
        (local.set $p (i32.const 128))
        (local.set $end (i32.add (i32.const 128) (i32.load (i32.const 52))))
        (block $out
          (loop $dig
            (br_if $out (i32.ge_u (local.get $p) (local.get $end)))
            (local.set $n (i32.add (i32.mul (local.get $n) (i32.const 10))
              (i32.sub (i32.load8_u (local.get $p)) (i32.const 48))))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $dig))))
      (else (if (i32.ne (local.get $code) (i32.const 12)) (then (unreachable))))) ;; 12: not-found
    (local.set $n (i32.add (local.get $n) (i32.const 1)))
    ;; the decimal digits of n, written at 165.. (count them first)
    (local.set $v (local.get $n))
    (local.set $len (i32.const 0))
    (loop $count
      (local.set $len (i32.add (local.get $len) (i32.const 1)))
      (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
      (br_if $count (local.get $v)))
    (local.set $v (local.get $n))
    (local.set $p (i32.add (i32.const 165) (local.get $len)))
    (loop $w
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
      (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
      (br_if $w (local.get $v)))
    (if (call $set (i32.const 32) (i32.const 5) (i32.const 165) (local.get $len)) (then (unreachable)))
    (i32.store8 (i32.add (i32.const 165) (local.get $len)) (i32.const 125)) ;; }
    (drop (call $publish (i32.const 16) (i32.const 10) (i32.const 160) (i32.add (local.get $len) (i32.const 6)))))

  (func (export "run")
    (local $code i32) (local $count i32) (local $off i32) (local $tl i32) (local $pl i32) (local $rl i32)
    (if (call $subscribe (i32.const 0) (i32.const 9) (i32.const 48)) (then (unreachable)))
    (drop (call $ready))
    (loop $wait
      (local.set $code (call $recv (i32.load (i32.const 48)) (i64.const 60000) (i32.const 1024) (i32.const 8192) (i32.const 52)))
      (if (i32.or (i32.eq (local.get $code) (i32.const 11)) (i32.eq (local.get $code) (i32.const 3))) (then (return)))
      (if (local.get $code) (then (unreachable)))
      ;; envelope: 24-byte header (u32 count at 0), then records of 48-byte headers:
      ;; u32 topic_len, u32 payload_len, u32 principal_len, ..., then topic, payload, principal.
      (local.set $count (i32.load (i32.const 1024)))
      (local.set $off (i32.const 1048))
      (block $done
        (loop $each
          (br_if $done (i32.eqz (local.get $count)))
          (local.set $tl (i32.load (local.get $off)))
          (local.set $pl (i32.load offset=4 (local.get $off)))
          (local.set $rl (i32.load offset=8 (local.get $off)))
          ;; payload "crash" (7 bytes starting with a quote): trap
          (if (i32.and (i32.eq (local.get $pl) (i32.const 7))
                (i32.eq (i32.load8_u (i32.add (i32.add (local.get $off) (i32.const 48)) (local.get $tl))) (i32.const 34)))
            (then (unreachable)))
          (call $tick)
          (local.set $off (i32.add (local.get $off)
            (i32.add (i32.const 48) (i32.add (local.get $tl) (i32.add (local.get $pl) (local.get $rl))))))
          (local.set $count (i32.sub (local.get $count) (i32.const 1)))
          (br $each)))
      (br $wait)))
)
