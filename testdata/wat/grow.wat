;; grow: signals ready, then grows its memory by 64 pages (4 MiB). The result of
;; memory.grow is stored at address 0; if the grow was refused (-1) it traps, as a guest that
;; ran out of memory would.
(module
  (import "astrid:sys@1.0.0" "signal-ready" (func $ready (result i32)))
  (memory (export "memory") 1)
  (func (export "run")
    (drop (call $ready))
    (i32.store (i32.const 0) (memory.grow (i32.const 64)))
    (if (i32.eq (i32.load (i32.const 0)) (i32.const -1)) (then (unreachable))))
)
