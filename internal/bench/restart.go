package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/astrid-actors/astrid-actors/actors"
	"github.com/astrid-actors/astrid-actors/supervision"
)

// restartWarmUp restarts are done and discarded before the measured ones.
const restartWarmUp = 5

// minRestarts is the fewest restarts measured, however short Duration is.
const minRestarts = 20

func runRestart(ctx context.Context, e *env) ([]Result, error) {
	capsule, err := e.restartCapsule(ctx)
	if err != nil {
		return nil, err
	}
	base, err := e.restartBare(ctx)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	note := fmt.Sprintf("%d restarts of the crashy capsule with zero backoff: from the host's publish of the message it traps on "+
		"to the new instance's signal-ready (polled); baseline: instantiate crashy.wasm in bare wazero, call run (it traps at its "+
		"first host call: there is no capsule instance), close", len(capsule.samples))
	t := target{"≤ 5000 µs", atMost(5000)}
	return latencyResults(ScenarioRestart, capsule.samples, note, []latencySeries{base}, t, t), nil
}

// sampleFor calls one until d has passed (and at least minRestarts times), after
// restartWarmUp discarded calls.
func sampleFor(ctx context.Context, d time.Duration, one func() (time.Duration, error)) ([]int64, time.Duration, error) {
	for range restartWarmUp {
		if _, err := one(); err != nil {
			return nil, 0, err
		}
	}
	var samples []int64
	start := time.Now()
	for len(samples) < minRestarts || time.Since(start) < d {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		s, err := one()
		if err != nil {
			return nil, 0, err
		}
		samples = append(samples, int64(s))
	}
	return samples, time.Since(start), nil
}

func (e *env) restartCapsule(ctx context.Context) (_ latencySeries, err error) {
	policy := &supervision.Policy{Restart: supervision.Permanent, MaxRestarts: 1 << 30, Within: time.Minute}
	g, err := e.newRig(ctx, policy)
	if err != nil {
		return latencySeries{}, err
	}
	defer func() {
		if cerr := g.close(); err == nil {
			err = cerr
		}
	}()
	c, err := g.start(ctx, "crashy", wasmCrashy, nil, []string{"crash.*"}, nil)
	if err != nil {
		return latencySeries{}, err
	}
	if err := waitReady(ctx, c); err != nil {
		return latencySeries{}, err
	}
	one := func() (time.Duration, error) {
		prev := c.Status().Instances
		start := time.Now()
		if _, err := g.publish("crash.now", []byte(`1`)); err != nil {
			return 0, err
		}
		for spins := 1; ; spins++ {
			st := c.Status()
			if st.Instances > prev && st.State == actors.StateReady {
				return time.Since(start), nil
			}
			switch st.State {
			case actors.StateFailed, actors.StateExited, actors.StateStopped:
				return 0, fmt.Errorf("crashy is %s: %s", st.State, st.LastError)
			}
			if spins%1024 == 0 && time.Since(start) > 10*time.Second {
				return 0, fmt.Errorf("no restart within 10 s (state %s)", st.State)
			}
			runtime.Gosched()
		}
	}
	samples, el, err := sampleFor(ctx, e.cfg.Duration, one)
	if err != nil {
		return latencySeries{}, err
	}
	p50, p99 := percentiles(samples)
	e.progress("restart: capsule: %d restarts in %v, p50 %.1f µs, p99 %.1f µs", len(samples), el.Round(time.Millisecond), p50, p99)
	return latencySeries{name: "capsule", samples: samples, el: el}, nil
}

// restartBare is the floor of a restart: a fresh instance of the same module in bare wazero
// and a call into it that traps.
func (e *env) restartBare(ctx context.Context) (latencySeries, error) {
	wasm, err := fixture(wasmCrashy)
	if err != nil {
		return latencySeries{}, err
	}
	rt, closeRT, err := e.bareRuntime(ctx)
	if err != nil {
		return latencySeries{}, err
	}
	defer closeRT()
	compiled, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		return latencySeries{}, err
	}
	cfg := wazero.NewModuleConfig().WithName("").WithStartFunctions()
	one := func() (time.Duration, error) {
		start := time.Now()
		m, err := rt.InstantiateModule(ctx, compiled, cfg)
		if err != nil {
			return 0, err
		}
		_, callErr := m.ExportedFunction("run").Call(ctx)
		if err := m.Close(ctx); err != nil {
			return 0, err
		}
		if callErr == nil {
			return 0, errors.New("crashy's run returned without a trap")
		}
		return time.Since(start), nil
	}
	samples, el, err := sampleFor(ctx, e.cfg.Duration, one)
	if err != nil {
		return latencySeries{}, err
	}
	p50, p99 := percentiles(samples)
	e.progress("restart: baseline bare wazero: %d instantiate+call in %v, p50 %.1f µs, p99 %.1f µs", len(samples), el.Round(time.Millisecond), p50, p99)
	return latencySeries{name: "bare wazero instantiate+call", samples: samples, el: el}, nil
}
