// Package guest is the Go SDK for writing astrid-actors capsules: WebAssembly modules, built
// with GOOS=wasip1 GOARCH=wasm, that talk to the runtime only through the host ABI of package
// abi (modules "astrid:ipc@1.0.0" and "astrid:sys@1.0.0", see docs/abi.md). PublishBatch uses
// "astrid:ipc@1.1.0"; a capsule imports it only if it calls PublishBatch.
//
// # Building a capsule
//
// A capsule is a reactor module: package main with an empty main, built as a c-shared library,
// whose run loop is the exported function run:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o mycapsule.wasm .
//
// The runtime instantiates the module, calls _initialize once, then calls run on a goroutine of
// its own. Returning from run ends the capsule normally; a panic is a crash that the capsule's
// supervisor handles. Do the work on run's own goroutine: wasm is single-threaded and goroutines
// started by an export only make progress while some export is running, so a background
// goroutine stalls as soon as run blocks in a host call.
//
// The manifest (Capsule.toml) next to the module grants the topics: the keys of its [publish]
// and [subscribe] tables are the ACLs checked by Publish and Subscribe, and [env] holds the
// values Config returns.
//
// # A run-loop capsule
//
// Serve is the whole run loop: it subscribes to one pattern per handler, signals ready,
// dispatches every message to its handler and returns when the capsule is stopped. Handle
// decodes each JSON payload into a typed value first:
//
//	//go:build wasip1
//
//	package main
//
//	import "github.com/astrid-actors/astrid-actors/guest"
//
//	func main() {}
//
//	type ping struct{ N int }
//
//	//go:wasmexport run
//	func run() {
//		err := guest.Serve(guest.Handle("demo.ping", func(p ping, m guest.Message) error {
//			return guest.PublishJSON("demo.pong", map[string]int{"n": p.N})
//		}))
//		if err != nil {
//			guest.Errorf("serve: %v", err)
//		}
//	}
//
// A capsule that needs more control (its own timeouts, replies awaited inside a handler, see
// examples/ping) uses Subscribe, Subscription.Recv, Wait and SignalReady directly; a run loop
// written that way returns when a receive reports ErrCancelled or ErrClosed.
//
// # Messages, buffers and loss
//
// Poll and Recv return a Batch: messages in publish order plus counts of messages lost since
// the previous batch (Dropped, Lagged), so a capsule can always tell whether it missed
// something. Payloads are JSON (json.RawMessage); Message.Decode unmarshals them. Each
// Subscription keeps one receive buffer (64 KiB at first) and grows it when the host answers
// buffer-too-small, retrying at once: nothing is consumed by a call that did not fit.
//
// # Durable state
//
// KV (module "astrid:kv@1.0.0", docs/kv.md) is the capsule's key-value namespace, kept by the
// runtime across restarts and crashes of the host: Get, Set, Delete, CAS, ListPage, Keys and
// ClearPrefix. A restarted instance starts with empty memory but finds its keys there.
//
// # Errors
//
// Every failing host call returns an *Error that unwraps to its abi.Code, so
// errors.Is(err, guest.ErrCapabilityDenied) (or abi.CapabilityDenied) tests for a code, and
// CodeOf(err) extracts it. Outside GOOS=wasip1 the package builds, but every host call fails
// with ErrUnknown and the clocks read zero; this lets capsule code be vetted and unit-tested on
// a development machine.
package guest
