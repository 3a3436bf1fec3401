// Package bench runs the benchmark scenarios of astrid-actors with bundled WASM capsules and,
// in the same run, the same workload on baselines (the bus alone driven from Go, plain
// protoactor-go actors, Go channels, bare wazero), so that every result comes with the ratio
// to what the building blocks achieve on the same machine at the same moment.
//
// Scenarios (Scenarios lists them):
//
//   - pubsub: one publisher capsule (benchpub) → one subscriber capsule (benchsink, recv in
//     batches), msg/s.
//   - batch: one publisher capsule using publish-batch (benchbatch, Config.BatchRecords records
//     per call) → one benchsink capsule, msg/s, against plain protoactor-go (2 actors), the
//     single-publish pubsub capsules and the bus alone.
//   - fanout: one publisher capsule → Config.Subscribers subscriber capsules, deliveries/s.
//   - rtt: request/reply round trip between two capsules (rttreq → echo → rttreq), measured
//     inside the requester with clock-monotonic-ns; p50 and p99.
//   - wake: the host publishes at a fixed 10 000 msg/s to an echo capsule; latency from the
//     host's publish to the capsule's echo publish (the capsule wakes from recv in between);
//     p50 and p99.
//   - coldstart: load (compile from a warm cache) + instantiate + ready of 1, 100 and 10 000
//     idle capsules; time and RSS per capsule.
//   - restart: trap → new instance ready with zero backoff; p50 and p99.
//   - compute: a guest's sum loop instrumented by internal/preempt (as every capsule is)
//     against the same loop with no check and with wazero's loop check, iterations/s
//     (compute.go).
//   - kv: durable kv-set calls/s and p99 from 1 and 16 capsules, kv-get calls/s (kv.go),
//     against the store used directly from Go.
//   - cluster: the other cluster nodes as child processes on loopback (Config.Executable):
//     remote throughput 1→1 and 1→2 against the bus alone, round trip, node Close, idle node.
//
// Throughput runs are calibrated with short warm-up runs and then sized to last about
// Config.Duration; each baseline is sized the same way. Every capsule result reports the
// messages dropped on the way in its Note (the benchmark lifts the mailbox and throughput
// limits, so there should be none).
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/astrid-actors/astrid-actors/abi"
)

// Scenario names.
const (
	ScenarioPubSub    = "pubsub"
	ScenarioFanout    = "fanout"
	ScenarioRTT       = "rtt"
	ScenarioWake      = "wake"
	ScenarioColdStart = "coldstart"
	ScenarioRestart   = "restart"
	ScenarioKV        = "kv"
)

// Defaults of Config.
const (
	DefaultDuration     = 2 * time.Second
	DefaultPayloadBytes = 128
	DefaultSubscribers  = 100
	// WakeRate is the fixed publish rate of the wake scenario, in messages per second.
	WakeRate = 10000
	// MaxPayloadBytes is the largest Config.PayloadBytes (the ABI's payload limit).
	MaxPayloadBytes = 1 << 20
)

// DefaultColdStartCounts are the capsule counts of the coldstart scenario.
func DefaultColdStartCounts() []int { return []int{1, 100, 10000} }

// Config selects and sizes the scenarios. The zero value runs everything with the defaults.
type Config struct {
	// Duration is how long each timed measurement runs: the capsule run of a scenario and,
	// separately, each of its baselines (default 2 s).
	Duration time.Duration
	// Scenarios are the names of the scenarios to run (see Scenarios); empty runs all. They
	// run in the order of Scenarios, whatever the order here.
	Scenarios []string
	// PayloadBytes is the size of the JSON payload of pubsub, fanout, rtt and wake messages
	// (default 128, at most MaxPayloadBytes; wake needs at least 9 bytes for its index).
	PayloadBytes int
	// BatchRecords is the number of records per publish-batch call of the batch scenario
	// (default DefaultBatchRecords, at most abi.MaxBatchRecords; the capsule also keeps a call
	// within the 4 MiB records limit).
	BatchRecords int
	// Subscribers is the number of subscriber capsules of the fanout scenario (default 100).
	Subscribers int
	// ColdStartCounts are the numbers of capsules started by coldstart (default 1, 100,
	// 10 000).
	ColdStartCounts []int
	// CacheDir is the wazero compilation cache; empty uses a temporary directory removed at
	// the end of Run. Cold start is measured with the cache warm either way.
	CacheDir string
	// Progress receives progress lines; nil discards them.
	Progress io.Writer
	// Rounds is how many rounds the pubsub, batch, fanout, rtt, wake, restart, compute,
	// coldstart (start time; RSS is of the last round) and cluster (throughput) scenarios run,
	// each round running the capsules and then every baseline once, each for Duration/Rounds
	// (coldstart: one load of each count); values (rates, percentiles, times) and ratios are
	// the medians over the rounds, reported with their ranges (default DefaultRounds).
	Rounds int
	// Executable is the astrid-actors binary the cluster scenario starts its child nodes with
	// (the hidden ClusterNodeCommand), and the pressure processes (PressureChildCommand); the
	// cluster scenario and a non-zero Pressure fail without it.
	Executable string
	// Pressure is CPU and memory load that Run puts beside the scenarios, from before the
	// first to after the last, killed at the end (also when ctx ends or a scenario fails).
	// The zero value puts none. Every Result's Note then says so, with the load average.
	Pressure Pressure
}

// Baseline is the same workload run without capsules.
type Baseline struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	// Ratio is the scenario's value divided by the baseline's (0 when the baseline is 0): above
	// 1 the capsules are faster for rates and slower for latencies. With rounds it is the
	// median of the per-round ratios.
	Ratio float64 `json:"ratio"`
	// Spread is the range of Value over the rounds (nil for a scenario measured once).
	Spread *Spread `json:"spread,omitempty"`
	// RatioSpread is the range of the per-round ratios (nil for a scenario measured once).
	RatioSpread *Spread `json:"ratio_spread,omitempty"`
}

// Spread is the range of a figure over the rounds of an interleaved measurement.
type Spread struct {
	Min float64 `json:"min"`
	Max float64 `json:"max"`
}

// Result is one measured metric of a scenario.
type Result struct {
	Scenario string `json:"scenario"`
	// Metric names what was measured: "throughput 1→1", "p50", "per-capsule start n=100", …
	Metric string `json:"metric"`
	// Unit is "msg/s", "deliveries/s", "µs" or "KiB".
	Unit      string     `json:"unit"`
	Value     float64    `json:"value"`
	Baselines []Baseline `json:"baselines,omitempty"`
	// Target is the performance target, e.g. "≥ 1000000 msg/s"; empty when there is none.
	Target string `json:"target,omitempty"`
	// Met says whether Value meets Target (true when there is no target).
	Met bool `json:"met"`
	// Note tells how the value was obtained: counts, duration, dropped messages, caveats.
	Note string `json:"note,omitempty"`
	// Rounds is how many interleaved rounds the value is the median of (0: measured once);
	// Spread is then its range over them.
	Rounds int     `json:"rounds,omitempty"`
	Spread *Spread `json:"spread,omitempty"`
}

// Scenarios returns the scenario names, in the order Run runs them.
func Scenarios() []string {
	return []string{ScenarioPubSub, ScenarioBatch, ScenarioFanout, ScenarioRTT, ScenarioWake, ScenarioColdStart, ScenarioRestart, ScenarioCompute, ScenarioKV, ScenarioCluster}
}

// withDefaults fills the zero fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.Duration <= 0 {
		c.Duration = DefaultDuration
	}
	if c.PayloadBytes <= 0 {
		c.PayloadBytes = DefaultPayloadBytes
	}
	if c.PayloadBytes > MaxPayloadBytes {
		return c, fmt.Errorf("bench: payload of %d bytes is over the limit of %d", c.PayloadBytes, MaxPayloadBytes)
	}
	if c.Subscribers <= 0 {
		c.Subscribers = DefaultSubscribers
	}
	if c.BatchRecords <= 0 {
		c.BatchRecords = DefaultBatchRecords
	}
	if c.BatchRecords > abi.MaxBatchRecords {
		return c, fmt.Errorf("bench: %d records per batch is over the limit of %d", c.BatchRecords, abi.MaxBatchRecords)
	}
	if c.Rounds < 0 {
		return c, fmt.Errorf("bench: %d rounds: must be positive", c.Rounds)
	}
	if c.Rounds == 0 {
		c.Rounds = DefaultRounds
	}
	if len(c.ColdStartCounts) == 0 {
		c.ColdStartCounts = DefaultColdStartCounts()
	}
	for _, n := range c.ColdStartCounts {
		if n <= 0 {
			return c, fmt.Errorf("bench: cold start count %d must be positive", n)
		}
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	known := Scenarios()
	for _, s := range c.Scenarios {
		if !slices.Contains(known, s) {
			return c, fmt.Errorf("bench: unknown scenario %q (known: %s)", s, strings.Join(known, ", "))
		}
	}
	return c, nil
}

// selected reports whether scenario s is to run.
func (c Config) selected(s string) bool {
	return len(c.Scenarios) == 0 || slices.Contains(c.Scenarios, s)
}

// Run runs the selected scenarios one after the other, each with its baselines, and returns
// their results. A scenario that fails is reported in the returned error and the others still
// run; when ctx ends, Run stops and returns what it has with ctx's error.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.CacheDir == "" {
		dir, err := os.MkdirTemp("", "astrid-bench-cache-")
		if err != nil {
			return nil, fmt.Errorf("bench: compilation cache: %w", err)
		}
		defer os.RemoveAll(dir)
		cfg.CacheDir = dir
	}
	run := map[string]func(context.Context, *env) ([]Result, error){
		ScenarioPubSub:    runPubSub,
		ScenarioBatch:     runBatch,
		ScenarioFanout:    runFanout,
		ScenarioRTT:       runRTT,
		ScenarioWake:      runWake,
		ScenarioColdStart: runColdStart,
		ScenarioRestart:   runRestart,
		ScenarioCompute:   runCompute,
		ScenarioKV:        runKV,
		ScenarioCluster:   runCluster,
	}
	pressure, err := startPressure(cfg.Executable, cfg.Pressure)
	if err != nil {
		return nil, fmt.Errorf("bench: pressure %s: %w", cfg.Pressure, err)
	}
	defer pressure.stop()
	// Ctrl-C ends the pressure at once, not after the measurement in progress has noticed.
	defer context.AfterFunc(ctx, pressure.stop)()
	e := &env{cfg: cfg}
	if cfg.Pressure != (Pressure{}) {
		e.progress("pressure %s started (load average %.2f)", cfg.Pressure, loadAverage())
	}
	var results []Result
	var errs []error
	for _, s := range Scenarios() {
		if !cfg.selected(s) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return results, errors.Join(append(errs, err)...)
		}
		e.progress("%s: start", s)
		start := time.Now()
		min0, maj0, faultsOK := pageFaults()
		rs, err := run[s](ctx, e)
		min1, maj1, _ := pageFaults()
		load := loadAverage()
		e.progress("%s: page faults: %d minor, %d major; load average %.2f", s, min1-min0, maj1-maj0, load)
		if cfg.Pressure != (Pressure{}) {
			for i := range rs {
				rs[i].Note += fmt.Sprintf("; beside pressure %s, load average %.2f", cfg.Pressure, load)
				if faultsOK {
					rs[i].Note += fmt.Sprintf(", %d major page faults in the scenario", maj1-maj0)
				}
			}
		}
		results = append(results, rs...)
		if err != nil {
			e.progress("%s: failed: %v", s, err)
			errs = append(errs, fmt.Errorf("bench: %s: %w", s, err))
			if ctx.Err() != nil {
				return results, errors.Join(append(errs, ctx.Err())...)
			}
			continue
		}
		e.progress("%s: done in %v", s, time.Since(start).Round(time.Millisecond))
	}
	return results, errors.Join(errs...)
}

// env is what the scenarios share.
type env struct {
	cfg Config
}

func (e *env) progress(format string, args ...any) {
	fmt.Fprintf(e.cfg.Progress, "bench: "+format+"\n", args...)
}

// result builds a Result with its baselines' ratios, and Met from check (nil: no target).
func result(scenario, metric, unit string, value float64, target string, check func(float64) bool,
	note string, baselines ...Baseline) Result {
	for i := range baselines {
		if baselines[i].Value > 0 {
			baselines[i].Ratio = value / baselines[i].Value
		}
	}
	met := true
	if check != nil {
		met = check(value)
	}
	return Result{Scenario: scenario, Metric: metric, Unit: unit, Value: value, Baselines: baselines,
		Target: target, Met: met, Note: note}
}

func atLeast(min float64) func(float64) bool { return func(v float64) bool { return v >= min } }
func atMost(max float64) func(float64) bool  { return func(v float64) bool { return v <= max } }

// calibrate sizes a throughput run: it runs f with a growing n until one run takes at least
// a tenth of d (the warm-up), then runs it with n sized to last about d. If that run is off by
// more than 40 % (the warm-up rate was not the steady one), it is sized and run once more.
// It returns the last run's n and duration. n stays a multiple of step within [n0, maxN].
func calibrate(ctx context.Context, d time.Duration, n0, step, maxN int, f func(n int) (time.Duration, error)) (int, time.Duration, error) {
	top := maxN - maxN%step
	roundUp := func(x float64) int {
		n := max(int(math.Min(math.Ceil(x), float64(top))), n0)
		if r := n % step; r != 0 {
			n += step - r
		}
		return min(n, top)
	}
	run := func(n int) (time.Duration, error) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		el, err := f(n)
		return max(el, time.Microsecond), err
	}
	warm := max(d/10, 5*time.Millisecond)
	n := roundUp(float64(n0))
	el, err := run(n)
	for err == nil && el < warm && n < top {
		grow := min(16, max(2, 1.5*float64(warm)/float64(el)))
		n = roundUp(float64(n) * grow)
		el, err = run(n)
	}
	for sized := 0; err == nil && sized < 2; sized++ {
		if sized > 0 && el > d*6/10 && el < d*14/10 {
			break
		}
		n = roundUp(float64(n) * float64(d) / float64(el))
		el, err = run(n)
	}
	if err != nil {
		return 0, 0, err
	}
	return n, el, nil
}

// rate is n per second of d.
func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// percentiles returns the p50 and p99 of samples (nanoseconds) in microseconds, sorting
// samples in place.
func percentiles(samples []int64) (p50, p99 float64) {
	if len(samples) == 0 {
		return 0, 0
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(samples)))) - 1
		i = min(max(i, 0), len(samples)-1)
		return float64(samples[i]) / 1e3
	}
	return at(0.50), at(0.99)
}

// payload returns a JSON payload of exactly n bytes (n >= 1): an object padded with "x" for
// n >= 25 (the 128-byte one is actors/bench_test.go's), else a string, else the number 0.
func payload(n int) []byte {
	switch {
	case n >= 25:
		return []byte(`{"kind":"bench","pad":"` + strings.Repeat("x", n-25) + `"}`)
	case n >= 2:
		return []byte(`"` + strings.Repeat("x", n-2) + `"`)
	default:
		return []byte(`0`)
	}
}

// dropNote describes dropped messages for a Note.
func dropNote(dropped uint64) string {
	if dropped == 0 {
		return "dropped 0"
	}
	return fmt.Sprintf("DROPPED %d messages (the value counts them as handled)", dropped)
}

// timeout bounds one measured run: far longer than the calibrated duration, so only a hang
// hits it.
func (e *env) timeout() time.Duration { return 20*e.cfg.Duration + 60*time.Second }
