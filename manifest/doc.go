// Package manifest parses, validates, discovers and orders capsule manifests: the
// Capsule.toml file at the root of every capsule directory, in the Astrid OS 0.8 layout.
//
// # Format
//
// A manifest is a TOML document with these top-level tables (docs/manifest.md describes
// every key, default and rule):
//
//	[package]          name (capsule id, [a-z0-9-]+), version (semver), description,
//	                   astrid-version (semver requirement checked against AstridRelease)
//	[[component]]      id, file (alias entrypoint, relative to the capsule directory),
//	                   hash ("sha256:<64 hex>"); only the first component is used
//	[publish]          keys are the publish ACL; value "<schema>" or { wit = "...", ... }
//	[subscribe]        keys are the subscribe ACL; a table value with handler = "<action>"
//	                   (and priority, default 100) is an interceptor binding
//	[capabilities]     uplink; the other Astrid capabilities are parsed but grant nothing
//	[env]              config entries (any type string; all but secret and array are text);
//	                   Manifest.Config returns their defaults
//	[imports]          "ns:name" = "<semver requirement>" or [imports.ns] name = "..."
//	[exports]          "ns:name" = "<version>" or [exports.ns] name = "..."
//	[limits]           memory_pages, ipc_throughput_bytes_per_sec, max_subscriptions,
//	                   module_bytes, kv_bytes
//	[supervision]      restart policy, restart intensity, backoff, watchdog, ready timeout
//
// A linear pre-scan refuses documents over MaxDepth, MaxKeys or MaxArrayElements before the
// TOML parser runs. Unknown tables and keys, and the legacy Astrid 0.3-0.5 keys
// ([capabilities] ipc_publish/ipc_subscribe, [[interceptor]]), are ignored with a warning
// ([Manifest.Warnings]); a legacy key's warning says what the capsule is denied. Every validation
// error names the file, the key and the problem, for example
//
//	/caps/x/Capsule.toml: [subscribe] "a..b": empty topic segment
//
// and all errors of one manifest are reported together (joined with errors.Join; each is an
// [*Error]).
//
// # Discovery and order
//
// [Discover] finds the manifests under a list of directories (first name wins), and [Order]
// sorts them into load order: uplink capsules first, then providers before the capsules that
// import from them.
package manifest
