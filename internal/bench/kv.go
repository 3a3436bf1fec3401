package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/astrid-actors/astrid-actors/actors"
	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/internal/kvstore"
	"github.com/astrid-actors/astrid-actors/kv"
	"github.com/astrid-actors/astrid-actors/supervision"
)

// wasmKV is the kv scenario's capsule.
const wasmKV = "kvbench"

const (
	// kvWriters is the number of concurrent writers of the kv scenario's second measurement.
	kvWriters = 16
	// maxKVOps bounds one kv run per capsule (8 bytes of samples each in the capsule's memory).
	maxKVOps = 1 << 20
	// kvValue is the value size of the kv scenario, as in RATIONALE.md's store measurements.
	kvValue = 100
	// kvRounds is how many times the capsules and the baseline take turns: sets are bound by
	// fsync latency, which drifts on a shared disk, so both sides are measured in alternation
	// and their rounds summed.
	kvRounds = 3
	// kvPreload keys are set before a get measurement.
	kvPreload = 1000
)

// runKV measures astrid:kv through the host module — durable kv-set calls per second and
// their p99 from 1 and from 16 kvbench capsules, kv-get calls per second from one — against
// the same store (internal/kvstore) driven directly from Go, in the same run and in
// alternating rounds.
func runKV(ctx context.Context, e *env) (out []Result, err error) {
	for _, writers := range []int{1, kvWriters} {
		caps, base, err := e.kvCompare(ctx, writers, 's')
		if err != nil {
			return out, err
		}
		what := fmt.Sprintf("%d capsule", writers)
		if writers > 1 {
			what += "s"
		}
		note := fmt.Sprintf("%d kv-set calls of %d-byte values from %s, each durable (fsync, group commit) before it returns, "+
			"p99 measured in the capsules with clock-monotonic-ns; baseline: kvstore.Set from %d goroutine(s), %d ops; "+
			"%d alternating rounds each, rates over the rounds' total time", len(caps.samples), kvValue, what, writers, len(base.samples), kvRounds)
		_, p99 := percentiles(caps.samples)
		_, bp99 := percentiles(base.samples)
		e.progress("kv: %s: %.0f sets/s, p99 %.0f µs; direct: %.0f sets/s, p99 %.0f µs",
			what, rate(len(caps.samples), caps.el), p99, rate(len(base.samples), base.el), bp99)
		out = append(out,
			result(ScenarioKV, "durable sets/s "+what, "sets/s", rate(len(caps.samples), caps.el), "", nil, note,
				Baseline{Name: "store from Go", Value: rate(len(base.samples), base.el)}),
			result(ScenarioKV, "set p99 "+what, "µs", p99, "", nil, note, Baseline{Name: "store from Go", Value: bp99}))
	}
	caps, base, err := e.kvCompare(ctx, 1, 'g')
	if err != nil {
		return out, err
	}
	note := fmt.Sprintf("%d kv-get calls of %d-byte values from 1 capsule, rate = calls / time inside the calls "+
		"(clock-monotonic-ns around each); baseline: kvstore.Get from 1 goroutine, timed the same way", len(caps.samples), kvValue)
	e.progress("kv: gets: %.0f gets/s; direct: %.0f gets/s", callRate(caps.samples), callRate(base.samples))
	out = append(out, result(ScenarioKV, "gets/s 1 capsule", "gets/s", callRate(caps.samples), "", nil, note,
		Baseline{Name: "store from Go", Value: callRate(base.samples)}))
	jet, err := runKVJet(ctx, e)
	return append(out, jet...), err
}

// callRate is calls per second of time spent inside them (samples in ns).
func callRate(samples []int64) float64 {
	var sum int64
	for _, s := range samples {
		sum += s
	}
	return rate(len(samples), time.Duration(sum))
}

// kvSeries is one side of a kv measurement: every operation's latency (ns) and the wall time
// of the measured runs.
type kvSeries struct {
	samples []int64
	el      time.Duration
}

// kvRun runs n operations per writer (op 's' sets, 'g' gets) and returns their latencies (ns).
type kvRun func(op byte, n int) (time.Duration, []int64, error)

// kvCompare sets up both sides (writers capsules, writers goroutines on a store of their own),
// sizes each run with calibrate, then runs the sides in kvRounds alternating rounds.
func (e *env) kvCompare(ctx context.Context, writers int, op byte) (caps, base kvSeries, err error) {
	capRun, closeCaps, err := e.kvCapsules(ctx, writers)
	if err != nil {
		return caps, base, err
	}
	defer func() { err = errors.Join(err, closeCaps()) }()
	dirRun, closeDir, err := e.kvDirect(writers)
	if err != nil {
		return caps, base, fmt.Errorf("baseline: %w", err)
	}
	defer func() { err = errors.Join(err, closeDir()) }()
	series, err := e.kvAlternate(ctx, op, capRun, dirRun)
	if err != nil {
		return caps, base, err
	}
	return series[0], series[1], nil
}

// kvAlternate sizes each run with calibrate (after a preload for gets), then runs the sides
// in kvRounds alternating rounds, so that every side sees the same disk weather.
func (e *env) kvAlternate(ctx context.Context, op byte, runs ...kvRun) ([]kvSeries, error) {
	out := make([]kvSeries, len(runs))
	ns := make([]int, len(runs))
	for i, run := range runs {
		if op == 'g' {
			if _, _, err := run('s', kvPreload); err != nil {
				return nil, err
			}
		}
		var err error
		if ns[i], _, err = calibrate(ctx, e.cfg.Duration/kvRounds, 10, 1, maxKVOps, func(n int) (time.Duration, error) {
			el, _, err := run(op, n)
			return el, err
		}); err != nil {
			return nil, err
		}
	}
	for range kvRounds {
		for i, run := range runs {
			el, samples, err := run(op, ns[i])
			if err != nil {
				return nil, err
			}
			out[i].el += el
			out[i].samples = append(out[i].samples, samples...)
		}
	}
	return out, nil
}

// kvCapsules starts writers kvbench capsules, each with its own namespace, in a runtime whose
// store is in a fresh temporary data directory.
func (e *env) kvCapsules(ctx context.Context, writers int) (_ kvRun, closeFn func() error, err error) {
	dir, err := os.MkdirTemp("", "astrid-bench-kv-")
	if err != nil {
		return nil, nil, err
	}
	r, err := actors.New(ctx, actors.Options{
		Engine:   actors.EngineOptions{CacheDir: e.cfg.CacheDir},
		Watchdog: &supervision.Watchdog{},
		DataDir:  dir,
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, err
	}
	g := &rig{e: e, r: r, modules: map[string]*actors.Module{}}
	closeFn = func() error { return errors.Join(g.close(), os.RemoveAll(dir)) }
	defer func() {
		if err != nil {
			_ = closeFn()
		}
	}()
	out, err := g.subscribe(ctx, "kv.samples")
	if err != nil {
		return nil, nil, err
	}
	caps := make([]*actors.Capsule, writers)
	for i := range caps {
		if caps[i], err = g.start(ctx, fmt.Sprintf("kvbench-%d", i), wasmKV, []string{"kv.samples"}, []string{"kv.go"}, nil); err != nil {
			return nil, nil, err
		}
	}
	if err := waitReady(ctx, caps...); err != nil {
		return nil, nil, err
	}
	run := func(op byte, n int) (time.Duration, []int64, error) {
		var samples []int64
		start := time.Now()
		if _, err := g.publish("kv.go", fmt.Appendf(nil, `"%c%d"`, op, n)); err != nil {
			return 0, nil, err
		}
		_, err := collect(ctx, out, n*writers, e.timeout(), func(m *bus.Message) (int, error) {
			var chunk []int64
			if err := json.Unmarshal(m.Payload, &chunk); err != nil {
				return 0, fmt.Errorf("kv.samples: %w", err)
			}
			samples = append(samples, chunk...)
			return len(chunk), nil
		})
		return time.Since(start), samples, err
	}
	return run, closeFn, nil
}

// kvDirect is the baseline: the same operations on a store of its own from writers
// goroutines, namespace and key for namespace and key as the capsules.
func (e *env) kvDirect(writers int) (_ kvRun, closeFn func() error, err error) {
	dir, err := os.MkdirTemp("", "astrid-bench-kv-")
	if err != nil {
		return nil, nil, err
	}
	st, err := kvstore.Open(dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, err
	}
	return kvDirectOn(st, writers), func() error { return errors.Join(st.Close(), os.RemoveAll(dir)) }, nil
}

// kvDirectOn runs the operations on st from writers goroutines.
func kvDirectOn(st kv.Store, writers int) kvRun {
	value := make([]byte, kvValue)
	key := func(i int) string { return fmt.Sprintf("k%08x", i) }
	written := make([]int, writers) // keys set so far per writer
	run := func(op byte, n int) (time.Duration, []int64, error) {
		all := make([][]int64, writers)
		errs := make([]error, writers)
		var wg sync.WaitGroup
		start := time.Now()
		for w := range writers {
			ns := kv.Namespace{Name: fmt.Sprintf("default:capsule:kvbench-%d", w)}
			wg.Go(func() {
				s := make([]int64, 0, n)
				for i := range n {
					if op == 'g' && written[w] == 0 {
						errs[w] = errors.New("get before any set")
						return
					}
					t0 := time.Now()
					var err error
					if op == 's' {
						err = st.Set(context.Background(), ns, key(written[w]), value)
						written[w]++
					} else {
						_, err = st.Get(context.Background(), ns, key(i%written[w]))
					}
					if err != nil {
						errs[w] = err
						return
					}
					s = append(s, int64(time.Since(t0)))
				}
				all[w] = s
			})
		}
		wg.Wait()
		el := time.Since(start)
		var samples []int64
		for w := range writers {
			if errs[w] != nil {
				return 0, nil, errs[w]
			}
			samples = append(samples, all[w]...)
		}
		return el, samples, nil
	}
	return run
}
