package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// ScenarioCompute measures guest compute under wazero's loop check: the compute capsule's sum
// loop compiled as every capsule is (WithCloseOnContextDone, which makes each loop back-edge
// leave the machine code for Go to see whether the module was closed) against the same loop
// compiled without the check, in the same rounds. Bare wazero runtimes, no actors: the figure
// is the cost of the check alone.
const ScenarioCompute = "compute"

// wasmCompute is the compute fixture (sum, fib, sieve).
const wasmCompute = "compute"

func runCompute(ctx context.Context, e *env) (_ []Result, err error) {
	wasm, err := fixture(wasmCompute)
	if err != nil {
		return nil, err
	}
	var cs []contender
	for _, check := range []bool{true, false} {
		rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(check))
		defer rt.Close(context.Background())
		mod, err := rt.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithName(""))
		if err != nil {
			return nil, fmt.Errorf("instantiate compute (check %v): %w", check, err)
		}
		sum := mod.ExportedFunction("sum")
		name := "loop check on (every capsule)"
		if !check {
			name = "loop check off"
		}
		cs = append(cs, contender{name: name, n0: 1 << 16, step: 1 << 10, per: 1, run: func(n int) (time.Duration, uint64, error) {
			return sumLoop(ctx, sum, n)
		}})
	}
	m, err := e.rounds(ctx, ScenarioCompute, cs)
	if err != nil {
		return nil, err
	}
	note := fmt.Sprintf("%d rounds of sum loops of %d and %d iterations (compute.wat, one back-edge per iteration), bare wazero with and without WithCloseOnContextDone; "+
		"the check is what keeps a capsule that loops without host calls stoppable",
		e.cfg.Rounds, m.n[0], m.n[1])
	r := roundsResult(ScenarioCompute, "loop iterations", "iter/s", "", nil, note, []string{cs[1].name}, m)
	e.progress("%s: %.0f iterations/s with the check, %.3f× without", ScenarioCompute, r.Value, r.Baselines[0].Ratio)
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
