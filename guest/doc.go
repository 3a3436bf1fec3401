// Package guest is the Go SDK for astrid-actors capsules: WebAssembly modules built with
// GOOS=wasip1 GOARCH=wasm that talk to the runtime only through the host ABI (docs/abi.md:
// "astrid:ipc@1.0.0", "astrid:sys@1.0.0", "astrid:kv@1.0.0"; PublishBatch alone imports
// "astrid:ipc@1.1.0").
//
// A capsule is package main with an empty main, built as a reactor
// (go build -buildmode=c-shared), whose run loop is the exported function run. The runtime
// calls _initialize, then run on a goroutine of its own; returning ends the capsule, a panic is
// a crash its supervisor handles. Keep the work on run's goroutine: a background goroutine
// stalls while run blocks in a host call.
//
// Serve is the whole run loop (see ExampleServe): one handler per pattern (On, Handle for typed
// JSON, OnBatch), ready signalled once subscribed, a clean return when the capsule is stopped.
// For more control use Subscribe, Subscription.Recv, Wait and SignalReady; such a loop ends
// when a receive reports ErrCancelled or ErrClosed. Every Batch counts what was lost since the
// previous one (Dropped, Lagged). KV is the capsule's durable key-value namespace (docs/kv.md).
//
// A failing host call returns an *Error that unwraps to its abi.Code (errors.Is(err,
// ErrCapabilityDenied); CodeOf). Outside GOOS=wasip1 the package builds and every host call
// fails with ErrUnknown, so capsule code can be vetted and unit-tested anywhere. The manifest
// beside the module (Capsule.toml, docs/manifest.md) grants the topics and the config.
package guest
