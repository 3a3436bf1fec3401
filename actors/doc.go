// Package actors runs WebAssembly capsules: it is the embedding API of astrid-actors.
//
// A Runtime (New) holds one wazero engine, one topic bus and the supervised actors of its
// capsules. With it a program:
//
//   - loads capsules from manifests (Runtime.Load: every Capsule.toml under some directories,
//     in dependency order, each waited for until it signals ready), or starts one from a
//     compiled module and a CapsuleSpec (Runtime.Compile, Runtime.Start);
//   - talks to them over the bus (Runtime.Publish, Runtime.Subscribe);
//   - watches them (Capsule.Status, Runtime.Capsules, Runtime.Events for crashes, restarts and
//     failures);
//   - stops them (Capsule.Stop, Runtime.Unload, Runtime.Close).
//
// Each capsule runs as a protoactor-go actor whose guest code runs on a worker goroutine of its
// own, under a supervisor that applies its restart policy (package supervision). How the pieces
// fit: docs/architecture.md; the contract with guests: docs/abi.md. Package capsuletest tests
// capsules with a Runtime in a few lines.
package actors
