package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/astrid-actors/astrid-actors/internal/preempt"
)

// ScenarioCompute measures guest compute under the loop check that keeps a capsule stoppable:
// the compute capsule's sum loop instrumented as every capsule is (internal/preempt: a
// countdown at each loop header and function entry, one exit to Go every preempt.Budget),
// against the same loop without any check, and under wazero's WithCloseOnContextDone (which
// leaves the machine code for Go at every back-edge; the engine's check until issue 15 item
// 8), in the same rounds. Bare wazero runtimes, no actors: the figure is the cost of the check
// alone.
const ScenarioCompute = "compute"

// wasmCompute is the compute fixture (sum, fib, sieve).
const wasmCompute = "compute"

// loopCheck is how a guest is kept stoppable in the compute measurements.
type loopCheck int

// The loop checks compared.
const (
	// checkNone: no check at all; a spinning guest cannot be stopped.
	checkNone loopCheck = iota
	// checkWazero: wazero's WithCloseOnContextDone(true), an exit to Go at every back-edge.
	checkWazero
	// checkPreempt: the engine's, internal/preempt's instrumentation.
	checkPreempt
)

var loopChecks = []loopCheck{checkNone, checkWazero, checkPreempt}

func (c loopCheck) String() string {
	switch c {
	case checkWazero:
		return "wazero"
	case checkPreempt:
		return "preempt"
	}
	return "none"
}

// computeRuntime creates a compiler runtime for check c (with astrid:preempt registered for
// checkPreempt) and returns the wasm to instantiate in it (wasm instrumented for
// checkPreempt). cache may be nil.
func computeRuntime(ctx context.Context, wasm []byte, c loopCheck, cache wazero.CompilationCache) (wazero.Runtime, []byte, error) {
	cfg := wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(c == checkWazero)
	if cache != nil {
		cfg = cfg.WithCompilationCache(cache)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	if c != checkPreempt {
		return rt, wasm, nil
	}
	inst, err := preempt.Instrument(wasm)
	if err == nil {
		err = preempt.Register(ctx, rt)
	}
	if err != nil {
		_ = rt.Close(ctx)
		return nil, nil, err
	}
	return rt, inst, nil
}

func runCompute(ctx context.Context, e *env) (_ []Result, err error) {
	wasm, err := fixture(wasmCompute)
	if err != nil {
		return nil, err
	}
	var cs []contender
	names := map[loopCheck]string{
		checkPreempt: "instrumented (every capsule)",
		checkNone:    "no check",
		checkWazero:  "wazero's loop check",
	}
	for _, check := range []loopCheck{checkPreempt, checkNone, checkWazero} {
		rt, code, err := computeRuntime(ctx, wasm, check, nil)
		if err != nil {
			return nil, fmt.Errorf("compute (%v): %w", check, err)
		}
		defer rt.Close(context.Background())
		mod, err := rt.InstantiateWithConfig(ctx, code, wazero.NewModuleConfig().WithName(""))
		if err != nil {
			return nil, fmt.Errorf("instantiate compute (%v): %w", check, err)
		}
		sum := mod.ExportedFunction("sum")
		cs = append(cs, contender{name: names[check], n0: 1 << 16, step: 1 << 10, per: 1, run: func(n int) (time.Duration, uint64, error) {
			return sumLoop(ctx, sum, n)
		}})
	}
	m, err := e.rounds(ctx, ScenarioCompute, cs)
	if err != nil {
		return nil, err
	}
	note := fmt.Sprintf("%d rounds of sum loops of %d and %d iterations (compute.wat, one back-edge per iteration), bare wazero: "+
		"instrumented by internal/preempt (a countdown per back-edge, one exit to Go every %d) against no check and wazero's WithCloseOnContextDone; "+
		"a check is what keeps a capsule that loops without host calls stoppable",
		e.cfg.Rounds, m.n[0], m.n[1], preempt.Budget)
	r := roundsResult(ScenarioCompute, "loop iterations", "iter/s", "", nil, note, []string{cs[1].name, cs[2].name}, m)
	e.progress("%s: %.0f iterations/s instrumented, %.3f× without a check, %.3f× with wazero's", ScenarioCompute, r.Value, r.Baselines[0].Ratio, r.Baselines[1].Ratio)
	return []Result{r}, nil
}

// sumLoop calls sum(n) and checks its result.
func sumLoop(ctx context.Context, sum api.Function, n int) (time.Duration, uint64, error) {
	start := time.Now()
	res, err := sum.Call(ctx, uint64(n))
	el := time.Since(start)
	if err != nil {
		return 0, 0, err
	}
	if want := sumOfSquaresBelow(uint64(n)); res[0] != want {
		return 0, 0, fmt.Errorf("sum(%d) = %d, want %d", n, res[0], want)
	}
	return el, 0, nil
}

// sumOfSquaresBelow is Σ i² for i < n, mod 2^64: (n-1)·n·(2n-1)/6, dividing the factors
// exactly first (one of n-1, n is even; one of the three is a multiple of 3).
func sumOfSquaresBelow(n uint64) uint64 {
	if n == 0 {
		return 0
	}
	f := [3]uint64{n - 1, n, 2*n - 1}
	if f[0]%2 == 0 {
		f[0] /= 2
	} else {
		f[1] /= 2
	}
	for i := range f {
		if f[i]%3 == 0 {
			f[i] /= 3
			break
		}
	}
	return f[0] * f[1] * f[2]
}
