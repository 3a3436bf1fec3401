// Package preempt keeps every capsule stoppable without wazero's loop check. Instrument
// rewrites a core WebAssembly module so that a countdown (a new module-private mutable i32
// global) is decremented at every function entry and every loop header; when it reaches zero
// the guest resets it to the budget and calls the imported host function astrid:preempt.check,
// the module's one exit to Go on a spin. Register provides that function: it ends the call, as
// wazero's WithCloseOnContextDone check would, when the call's context is done or the module
// was closed, and being Go code it is also where the Go scheduler and GC can stop the goroutine.
//
// Between two exits a guest runs at most Budget function entries and loop back-edges of
// straight-line code, so a stop (or a GC stop-the-world) waits for that much guest work at
// most, while the fast path is a load, a branch, a decrement and a store: no exit from the
// machine code. The engine runs capsules with WithCloseOnContextDone(false) and this package.
package preempt

import (
	"context"
	"errors"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
)

// Module and Name are the import the instrumentation adds: module "astrid:preempt", function
// "check", type () -> (). The module name is reserved: a guest importing anything from it is
// refused (ErrReserved).
const (
	Module = "astrid:preempt"
	Name   = "check"
)

// Revision changes whenever Instrument's output for some input changes: a cache of compiled
// instrumented modules keyed by the original bytes (internal/testguests' precompile markers)
// must include it.
const Revision = "1"

// Budget is the default countdown: function entries plus loop back-edges between two calls of
// astrid:preempt.check. At 1024 the exit's 30–60 ns are spread over 1024 iterations of even
// the tightest loop (docs/performance.md, "Loop check"), and a stop waits for 1024 loop
// iterations or calls of the guest at most.
const Budget = 1024

// ErrReserved is returned (wrapped) by Instrument for a guest that imports from Module itself.
var ErrReserved = errors.New("imports from " + Module + ", which is reserved for the runtime")

// ErrMalformed is returned (wrapped) by Instrument for bytes it cannot rewrite: not a core
// wasm module, a truncated section, or an instruction outside the features the engine enables
// (wazero's CoreFeaturesV2: MVP, mutable globals, sign extension, saturating float-to-int,
// bulk memory, multi-value, reference types, SIMD). Such a module would not compile anyway.
var ErrMalformed = errors.New("cannot instrument module")

// ErrNotModule is the ErrMalformed of bytes that do not start with the core module header
// (magic number and version 1).
var ErrNotModule = fmt.Errorf("%w: not a core wasm module (bad magic number or version)", ErrMalformed)

// Register instantiates the host module astrid:preempt in rt.
func Register(ctx context.Context, rt wazero.Runtime) error {
	_, err := rt.NewHostModuleBuilder(Module).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(check), nil, nil).
		WithName(Name).
		Export(Name).
		Instantiate(ctx)
	if err != nil {
		return fmt.Errorf("instantiate %s: %w", Module, err)
	}
	return nil
}

// failIfClosed is what wazero's own check calls on a module instance (its exit code, the
// first closer's, as an *sys.ExitError); api.Module does not declare it.
type failIfClosed interface{ FailIfClosed() error }

// check ends the call when its context is done (closing the module with
// sys.ExitCodeContextCanceled or sys.ExitCodeDeadlineExceeded, as wazero's
// WithCloseOnContextDone does) or when the module was closed (with its exit code).
func check(ctx context.Context, m api.Module, _ []uint64) {
	if err := ctx.Err(); err != nil {
		code := uint32(sys.ExitCodeContextCanceled)
		if errors.Is(err, context.DeadlineExceeded) {
			code = sys.ExitCodeDeadlineExceeded
		}
		_ = m.CloseWithExitCode(ctx, code)
		panic(exitError(m, code))
	}
	if m.IsClosed() {
		panic(exitError(m, sys.ExitCodeContextCanceled))
	}
}

// exitError is the error the call ends with: the module's own exit code when the instance can
// tell it, else code.
func exitError(m api.Module, code uint32) error {
	if f, ok := m.(failIfClosed); ok {
		if err := f.FailIfClosed(); err != nil {
			return err
		}
	}
	return sys.NewExitError(code)
}
