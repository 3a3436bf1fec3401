;; fillmem (hostile): signals ready, grows its memory one page at a time until the host
;; refuses, writes to every byte of it (so every page is resident), then traps. A crash loop
;; of it must not leave the host holding the dead instances' memory.
(module
  (import "astrid:sys@1.0.0" "signal-ready" (func $ready (result i32)))
  (memory (export "memory") 1)
  (func (export "run")
    (drop (call $ready))
    (block $full
      (loop $grow
        (br_if $full (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (br $grow)))
    (memory.fill (i32.const 0) (i32.const 0xab) (i32.mul (memory.size) (i32.const 65536)))
    (unreachable))
)
