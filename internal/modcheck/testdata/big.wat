;; big: needs 20000 memory pages at start, over the capsule maximum; no entry point.
(module
  (memory (export "memory") 20000)
)
