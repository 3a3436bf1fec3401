package bench

import (
	"context"
	"encoding/json"
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

// kvWriters is the number of concurrent writers of the kv scenario's second measurement.
const kvWriters = 16

// maxKVOps bounds one kv run per capsule (8 bytes of samples each in the capsule's memory).
const maxKVOps = 1 << 20

// kvValue is the value size of the kv scenario, as in RATIONALE.md's store measurements.
const kvValue = 100

// runKV measures astrid:kv through the host module — durable kv-set calls per second and
// their p99 from 1 and from 16 kvbench capsules, kv-get calls per second from one — against
// the same store (internal/kvstore) driven directly from Go, in the same run.
func runKV(ctx context.Context, e *env) ([]Result, error) {
	var out []Result
	for _, writers := range []int{1, kvWriters} {
		caps, err := e.kvCapsules(ctx, writers, 's')
		if err != nil {
			return out, err
		}
		base, err := e.kvDirect(ctx, writers, false)
		if err != nil {
			return out, fmt.Errorf("baseline: %w", err)
		}
		what := fmt.Sprintf("%d capsule", writers)
		if writers > 1 {
			what += "s"
		}
		note := fmt.Sprintf("%d kv-set calls of %d-byte values from %s, each durable (fsync, group commit) before it returns; "+
			"p99 measured in the capsules with clock-monotonic-ns; baseline: kvstore.Set from %d goroutine(s)",
			len(caps.samples), kvValue, what, writers)
		bp50, bp99 := percentiles(base.samples)
		_, p99 := percentiles(caps.samples)
		e.progress("kv: %s: %.0f sets/s, p99 %.0f µs; direct: %.0f sets/s, p50 %.0f µs, p99 %.0f µs",
			what, rate(len(caps.samples), caps.el), p99, rate(len(base.samples), base.el), bp50, bp99)
		out = append(out,
			result(ScenarioKV, "durable sets/s "+what, "sets/s", rate(len(caps.samples), caps.el), "", nil, note,
				Baseline{Name: "store from Go", Value: rate(len(base.samples), base.el)}),
			result(ScenarioKV, "set p99 "+what, "µs", p99, "", nil, note, Baseline{Name: "store from Go", Value: bp99}))
	}
	caps, err := e.kvCapsules(ctx, 1, 'g')
	if err != nil {
		return out, err
	}
	base, err := e.kvDirect(ctx, 1, true)
	if err != nil {
		return out, fmt.Errorf("baseline: %w", err)
	}
	note := fmt.Sprintf("%d kv-get calls of %d-byte values from 1 capsule, rate = calls / time inside the calls "+
		"(clock-monotonic-ns around each); baseline: kvstore.Get from 1 goroutine, timed the same way", len(caps.samples), kvValue)
	e.progress("kv: gets: %.0f gets/s; direct: %.0f gets/s", callRate(caps.samples), callRate(base.samples))
	out = append(out, result(ScenarioKV, "gets/s 1 capsule", "gets/s", callRate(caps.samples), "", nil, note,
		Baseline{Name: "store from Go", Value: callRate(base.samples)}))
	return out, nil
}

// callRate is calls per second of time spent inside them (samples in ns).
func callRate(samples []int64) float64 {
	var sum int64
	for _, s := range samples {
		sum += s
	}
	return rate(len(samples), time.Duration(sum))
}

// kvSeries is one kv measurement: every operation's latency (ns) and the wall time of the
// measured run.
type kvSeries struct {
	samples []int64
	el      time.Duration
}

// kvCapsules runs writers kvbench capsules, each with its own namespace, in a runtime whose
// store is in a fresh temporary data directory. op 's' measures sets, 'g' gets (after a
// round of sets to read).
func (e *env) kvCapsules(ctx context.Context, writers int, op byte) (_ kvSeries, err error) {
	dir, err := os.MkdirTemp("", "astrid-bench-kv-")
	if err != nil {
		return kvSeries{}, err
	}
	defer os.RemoveAll(dir)
	r, err := actors.New(ctx, actors.Options{
		Engine:   actors.EngineOptions{CacheDir: e.cfg.CacheDir},
		Watchdog: &supervision.Watchdog{},
		DataDir:  dir,
	})
	if err != nil {
		return kvSeries{}, err
	}
	g := &rig{e: e, r: r, modules: map[string]*actors.Module{}}
	defer func() {
		if cerr := g.close(); err == nil {
			err = cerr
		}
	}()
	out, err := g.subscribe(ctx, "kv.samples")
	if err != nil {
		return kvSeries{}, err
	}
	caps := make([]*actors.Capsule, writers)
	for i := range caps {
		if caps[i], err = g.start(ctx, fmt.Sprintf("kvbench-%d", i), wasmKV, []string{"kv.samples"}, []string{"kv.go"}, nil); err != nil {
			return kvSeries{}, err
		}
	}
	if err := waitReady(ctx, caps...); err != nil {
		return kvSeries{}, err
	}
	// run has every capsule do n operations and returns when all their samples arrived.
	var samples []int64
	run := func(op byte, n int) (time.Duration, error) {
		samples = samples[:0]
		start := time.Now()
		if _, err := g.publish("kv.go", fmt.Appendf(nil, `"%c%d"`, op, n)); err != nil {
			return 0, err
		}
		_, err := collect(ctx, out, n*writers, e.timeout(), func(m *bus.Message) (int, error) {
			var chunk []int64
			if err := json.Unmarshal(m.Payload, &chunk); err != nil {
				return 0, fmt.Errorf("kv.samples: %w", err)
			}
			samples = append(samples, chunk...)
			return len(chunk), nil
		})
		return time.Since(start), err
	}
	if op == 'g' {
		if _, err := run('s', 1000); err != nil {
			return kvSeries{}, err
		}
	}
	_, el, err := calibrate(ctx, e.cfg.Duration, 10, 1, maxKVOps, func(n int) (time.Duration, error) { return run(op, n) })
	if err != nil {
		return kvSeries{}, err
	}
	return kvSeries{samples: samples, el: el}, nil
}

// kvDirect is the baseline: the same operations on a fresh store from writers goroutines.
func (e *env) kvDirect(ctx context.Context, writers int, gets bool) (kvSeries, error) {
	dir, err := os.MkdirTemp("", "astrid-bench-kv-")
	if err != nil {
		return kvSeries{}, err
	}
	defer os.RemoveAll(dir)
	st, err := kvstore.Open(dir)
	if err != nil {
		return kvSeries{}, err
	}
	defer st.Close()
	value := make([]byte, kvValue)
	key := func(i int) string { return fmt.Sprintf("k%08x", i) }
	written := make([]int, writers)
	var samples []int64
	run := func(set bool, n int) (time.Duration, error) {
		all := make([][]int64, writers)
		errs := make([]error, writers)
		var wg sync.WaitGroup
		start := time.Now()
		for w := range writers {
			ns := kv.Namespace{Name: fmt.Sprintf("default:capsule:kvbench-%d", w)}
			wg.Go(func() {
				s := make([]int64, 0, n)
				for i := range n {
					t0 := time.Now()
					var err error
					if set {
						err = st.Set(ctx, ns, key(written[w]), value)
						written[w]++
					} else {
						_, err = st.Get(ctx, ns, key(i%written[w]))
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
		samples = samples[:0]
		for w := range writers {
			if errs[w] != nil {
				return 0, errs[w]
			}
			samples = append(samples, all[w]...)
		}
		return el, nil
	}
	if gets {
		if _, err := run(true, 1000); err != nil {
			return kvSeries{}, err
		}
	}
	_, el, err := calibrate(ctx, e.cfg.Duration, 10, 1, maxKVOps, func(n int) (time.Duration, error) { return run(!gets, n) })
	if err != nil {
		return kvSeries{}, err
	}
	return kvSeries{samples: samples, el: el}, nil
}
