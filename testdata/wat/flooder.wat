;; flooder (hostile): signals ready, then publishes {} on "fair.in" in a loop, as fast as the
;; host accepts (refused publishes are ignored), without ever yielding.
(module
  (import "astrid:ipc@1.0.0" "publish" (func $publish (param i32 i32 i32 i32) (result i32)))
  (import "astrid:sys@1.0.0" "signal-ready" (func $ready (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "fair.in")
  (data (i32.const 16) "{}")
  (func (export "run")
    (drop (call $ready))
    (loop $flood
      (drop (call $publish (i32.const 0) (i32.const 7) (i32.const 16) (i32.const 2)))
      (br $flood)))
)
