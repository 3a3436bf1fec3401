;; stdoutflood: a hostile guest flooding its WASI output. run signals ready, then
;;   1. writes one 1 MiB line to stderr without a newline in four fd_write calls of 256 KiB,
;;      then the newline (the host keeps at most 16 KiB of it);
;;   2. writes 100 000 lines of 100 bytes ("o…o\n") to stdout, one fd_write each;
;;   3. writes 50 000 lines of 100 bytes ("e…e\n") to stderr, one fd_write each;
;; and returns. Memory: [0, 8) iovec, [8, 12) nwritten, [16, 116) the stdout line,
;; [128, 228) the stderr line, [256, 257) a newline, [65536, 327680) 256 KiB of 'y'.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "signal-ready" (func $ready (result i32)))
  (memory (export "memory") 5)
  (data (i32.const 256) "\n")

  ;; write len bytes at ptr to fd; any error traps.
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (if (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))
      (then (unreachable))))

  ;; write n lines of the 100-byte line at ptr to fd.
  (func $lines (param $fd i32) (param $ptr i32) (param $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (call $write (local.get $fd) (local.get $ptr) (i32.const 100))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next))))

  (func (export "run")
    (drop (call $ready))
    (memory.fill (i32.const 16) (i32.const 0x6f) (i32.const 99))     ;; "o" x 99
    (i32.store8 (i32.const 115) (i32.const 10))                       ;; "\n"
    (memory.fill (i32.const 128) (i32.const 0x65) (i32.const 99))    ;; "e" x 99
    (i32.store8 (i32.const 227) (i32.const 10))                       ;; "\n"
    (memory.fill (i32.const 65536) (i32.const 0x79) (i32.const 262144)) ;; "y" x 256 KiB
    (call $write (i32.const 2) (i32.const 65536) (i32.const 262144))
    (call $write (i32.const 2) (i32.const 65536) (i32.const 262144))
    (call $write (i32.const 2) (i32.const 65536) (i32.const 262144))
    (call $write (i32.const 2) (i32.const 65536) (i32.const 262144))
    (call $write (i32.const 2) (i32.const 256) (i32.const 1))
    (call $lines (i32.const 1) (i32.const 16) (i32.const 100000))
    (call $lines (i32.const 2) (i32.const 128) (i32.const 50000)))
)
