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

func runRestart(ctx context.Context, e *env) (_ []Result, err error) {
	capsule, closeCapsule, err := e.restartCapsule(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := closeCapsule(); err == nil {
			err = cerr
		}
	}()
	bare, closeBare, err := e.restartBare(ctx)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	defer closeBare()
	d := max(e.cfg.Duration/time.Duration(e.cfg.Rounds), 10*time.Millisecond)
	cs := []latencyContender{{name: "capsule"}, {name: "bare wazero instantiate+call"}}
	for i, one := range []func() (time.Duration, error){capsule, bare} {
		for range restartWarmUp {
			if _, err := one(); err != nil {
				return nil, fmt.Errorf("%s: warm-up: %w", cs[i].name, err)
			}
		}
		cs[i].run = func() ([]int64, error) { return sampleFor(ctx, d, one) }
	}
	m, err := e.latencyRounds(ctx, ScenarioRestart, cs)
	if err != nil {
		return nil, err
	}
	note := fmt.Sprintf("%d rounds of %d restarts (last round) of the crashy capsule with zero backoff, each round followed by the baseline: from the host's publish of the message it traps on "+
		"to the new instance's signal-ready (polled); baseline: instantiate crashy.wasm in bare wazero, call run (it traps at its "+
		"first host call: there is no capsule instance), close", e.cfg.Rounds, m.samples[0])
	t := target{"≤ 5000 µs", atMost(5000)}
	return latencyRoundsResults(ScenarioRestart, note, []string{cs[1].name}, m, t, t), nil
}

// sampleFor calls one until d has passed, and at least minRestarts times.
func sampleFor(ctx context.Context, d time.Duration, one func() (time.Duration, error)) ([]int64, error) {
	var samples []int64
	start := time.Now()
	for len(samples) < minRestarts || time.Since(start) < d {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s, err := one()
		if err != nil {
			return nil, err
		}
		samples = append(samples, int64(s))
	}
	return samples, nil
}

// restartCapsule starts the crashy capsule and returns a function that makes it restart once
// and returns how long the restart took, and one that stops everything.
func (e *env) restartCapsule(ctx context.Context) (_ func() (time.Duration, error), _ func() error, err error) {
	policy := &supervision.Policy{Restart: supervision.Permanent, MaxRestarts: 1 << 30, Within: time.Minute}
	g, err := e.newRig(ctx, policy)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			_ = g.close()
		}
	}()
	c, err := g.start(ctx, "crashy", wasmCrashy, nil, []string{"crash.*"}, nil)
	if err != nil {
		return nil, nil, err
	}
	if err := waitReady(ctx, c); err != nil {
		return nil, nil, err
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
	return one, g.close, nil
}

// restartBare is the floor of a restart: a fresh instance of the same module in bare wazero
// and a call into it that traps. It returns a function doing one and how long it took, and
// one that closes the runtime.
func (e *env) restartBare(ctx context.Context) (_ func() (time.Duration, error), _ func(), err error) {
	wasm, err := fixture(wasmCrashy)
	if err != nil {
		return nil, nil, err
	}
	rt, closeRT, err := e.bareRuntime(ctx)
	if err != nil {
		return nil, nil, err
	}
	compiled, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		closeRT()
		return nil, nil, err
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
	return one, closeRT, nil
}
