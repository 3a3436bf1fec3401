;; consts: exports the global consts.g (41) that indices.wat imports.
(module (global (export "g") i32 (i32.const 41)))
