// Package manifest parses, validates, discovers and orders capsule manifests: the
// Capsule.toml file at the root of every capsule directory, in the Astrid OS 0.8 layout
// (docs/manifest.md describes every table, key, default and rule).
//
// [Load] or [Parse] reads one manifest; [Discover] finds them under a list of directories
// (first name wins) and [Order] sorts them into load order: uplink capsules first, then
// providers before the capsules that import from them.
//
// Hostile input is refused cheaply: a linear pre-scan rejects documents over MaxDepth, MaxKeys
// or MaxArrayElements before the TOML parser runs. Unknown keys and the legacy Astrid 0.3-0.5
// keys are ignored with a warning ([Manifest.Warnings]) that says what the capsule is denied.
// Every validation error names the file, the key and the problem, for example
//
//	/caps/x/Capsule.toml: [subscribe] "a..b": empty topic segment
//
// and all errors of one manifest are reported together (joined with errors.Join; each is an
// [*Error]).
package manifest
