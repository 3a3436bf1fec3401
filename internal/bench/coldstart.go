package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/astrid-actors/astrid-actors/actors"
	"github.com/astrid-actors/astrid-actors/hostfuncs"
	"github.com/astrid-actors/astrid-actors/internal/engine"
	"github.com/astrid-actors/astrid-actors/internal/preempt"
)

func runColdStart(ctx context.Context, e *env) ([]Result, error) {
	wasm, err := fixture(wasmIdle)
	if err != nil {
		return nil, err
	}
	// Warm the compilation cache (and the code paths) through both the runtime and bare
	// wazero, so that every measured compile is a cache hit.
	if _, err := e.coldCapsules(ctx, wasm, 1); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	if _, err := e.coldBare(ctx, wasm, 1); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	var results []Result
	for _, count := range e.cfg.ColdStartCounts {
		// Interleaved rounds: capsules, then bare wazero, per round; medians and ranges.
		per := [][]float64{nil, nil} // µs per capsule: [capsules, bare][round]
		var cs, bs coldStart
		for r := range e.cfg.Rounds {
			if cs, err = e.coldCapsules(ctx, wasm, count); err != nil {
				return results, fmt.Errorf("%d capsules: round %d: %w", count, r+1, err)
			}
			e.progress("coldstart: round %d: %d capsule(s): %v (compile %v), %.1f µs and %.0f KiB per capsule",
				r+1, count, cs.total.Round(time.Microsecond), cs.compile.Round(time.Microsecond), cs.perMicros(count), cs.rssPerKiB(count))
			if bs, err = e.coldBare(ctx, wasm, count); err != nil {
				return results, fmt.Errorf("%d bare instances: round %d: %w", count, r+1, err)
			}
			e.progress("coldstart: round %d: %d bare wazero instance(s): %v (compile %v), %.1f µs and %.0f KiB per instance",
				r+1, count, bs.total.Round(time.Microsecond), bs.compile.Round(time.Microsecond), bs.perMicros(count), bs.rssPerKiB(count))
			per[0], per[1] = append(per[0], cs.perMicros(count)), append(per[1], bs.perMicros(count))
		}

		startNote := fmt.Sprintf("%d rounds: %d idle capsule(s) (%d-byte WAT: subscribe, signal-ready, block in recv) started one after the other "+
			"in a fresh runtime: compile from the warm cache (%v in the last round, included) + Start + WaitReady of all, %v in total, divided by %d; "+
			"each round followed by the baseline: compile + instantiate %d instance(s) in bare wazero (no host instance, no run call, no actor)",
			e.cfg.Rounds, count, len(wasm), cs.compile.Round(time.Microsecond), cs.total.Round(time.Microsecond), count, count)
		results = append(results, roundsResult(ScenarioColdStart, fmt.Sprintf("per-capsule start n=%d", count), "µs",
			"≤ 1000 µs", atMost(1000), startNote, []string{"bare wazero instantiate"}, interleaved{rates: per}))

		// RSS is one figure of the last round: a per-round median would mix rounds whose freed
		// memory the OS has taken back with rounds it has not.
		r := result(ScenarioColdStart, fmt.Sprintf("RSS per capsule n=%d", count), "KiB",
			cs.rssPerKiB(count), "≤ 1024 KiB", atMost(1024), "",
			Baseline{Name: "bare wazero instance", Value: bs.rssPerKiB(count)})
		switch {
		case cs.rssErr != nil:
			r.Met = false
			r.Note = fmt.Sprintf("RSS unavailable: %v", cs.rssErr)
		default:
			r.Note = fmt.Sprintf("last round: VmRSS after GC and FreeOSMemory with the %d capsule(s) ready minus before the first compile: %+d KiB",
				count, cs.rssDelta)
			if count < 100 {
				r.Note += "; a few capsules are below the resolution of this measurement (page-sized noise)"
			}
		}
		results = append(results, r)
	}
	return results, nil
}

// coldStart is one cold-start measurement.
type coldStart struct {
	compile, total time.Duration
	rssDelta       int64 // KiB
	rssErr         error
}

func (c coldStart) perMicros(count int) float64 {
	return float64(c.total) / 1e3 / float64(count)
}

func (c coldStart) rssPerKiB(count int) float64 {
	if c.rssErr != nil || c.rssDelta < 0 {
		return 0
	}
	return float64(c.rssDelta) / float64(count)
}

// coldStartPages is the memory limit of the coldstart capsules, in 64 KiB pages.
const coldStartPages = 4

// coldCapsules starts count idle capsules in a fresh runtime and measures the time until all
// are ready and the RSS they added.
func (e *env) coldCapsules(ctx context.Context, wasm []byte, count int) (_ coldStart, err error) {
	g, err := e.newRig(ctx, nil)
	if err != nil {
		return coldStart{}, err
	}
	defer func() {
		if cerr := g.close(); err == nil {
			err = cerr
		}
	}()
	var cs coldStart
	rss0, rssErr := settledRSS()
	start := time.Now()
	m, err := g.r.Compile(ctx, wasm)
	if err != nil {
		return coldStart{}, err
	}
	cs.compile = time.Since(start)
	caps := make([]*actors.Capsule, 0, count)
	for i := range count {
		c, err := g.r.Start(ctx, actors.CapsuleSpec{ID: "idle-" + strconv.Itoa(i), Module: m,
			Grants: hostfuncs.Grants{Subscribe: []string{"idle.never"}},
			// The idle capsule needs one page; the default limit (64 MiB reserved each in the
			// host memory budget) would refuse the 188th capsule on a 24 GB machine.
			Limits: actors.Limits{MemoryPages: coldStartPages}})
		if err != nil {
			return coldStart{}, err
		}
		caps = append(caps, c)
	}
	if err := waitReady(ctx, caps...); err != nil {
		return coldStart{}, err
	}
	cs.total = time.Since(start)
	rss1, err := settledRSS()
	cs.rssDelta, cs.rssErr = rss1-rss0, errors.Join(rssErr, err)
	return cs, nil
}

// coldBare compiles the module in bare wazero and instantiates it count times.
func (e *env) coldBare(ctx context.Context, wasm []byte, count int) (coldStart, error) {
	rt, closeRT, err := e.bareRuntime(ctx)
	if err != nil {
		return coldStart{}, err
	}
	defer closeRT()
	var cs coldStart
	rss0, rssErr := settledRSS()
	start := time.Now()
	// what the engine compiles: the instrumented module (and its instrumentation is part of
	// the compile figure, as in Engine.Compile)
	inst, err := engine.Instrument(wasm)
	if err != nil {
		return coldStart{}, err
	}
	compiled, err := rt.CompileModule(ctx, inst)
	if err != nil {
		return coldStart{}, err
	}
	cs.compile = time.Since(start)
	cfg := wazero.NewModuleConfig().WithName("").WithStartFunctions()
	mods := make([]api.Module, 0, count)
	defer func() {
		for _, m := range mods {
			_ = m.Close(context.Background())
		}
	}()
	for range count {
		m, err := rt.InstantiateModule(ctx, compiled, cfg)
		if err != nil {
			return coldStart{}, err
		}
		mods = append(mods, m)
	}
	cs.total = time.Since(start)
	rss1, err := settledRSS()
	cs.rssDelta, cs.rssErr = rss1-rss0, errors.Join(rssErr, err)
	return cs, nil
}

// bareRuntime is wazero configured like actors.NewEngine (engine.RuntimeConfig: compiler, no
// WithCloseOnContextDone, the same memory ceiling; the same compilation cache) with the
// capsule host modules and astrid:preempt registered: what any embedding of these capsules
// needs at least.
func (e *env) bareRuntime(ctx context.Context) (wazero.Runtime, func(), error) {
	cache, err := wazero.NewCompilationCacheWithDir(e.cfg.CacheDir)
	if err != nil {
		return nil, nil, err
	}
	rt := wazero.NewRuntimeWithConfig(ctx, engine.RuntimeConfig(false).WithCompilationCache(cache))
	closeRT := func() {
		_ = rt.Close(context.Background())
		_ = cache.Close(context.Background())
	}
	if err := errors.Join(hostfuncs.Register(ctx, rt), preempt.Register(ctx, rt)); err != nil {
		closeRT()
		return nil, nil, err
	}
	return rt, closeRT, nil
}

// settledRSS returns VmRSS in KiB after a GC that also returns freed memory to the OS.
func settledRSS() (int64, error) {
	debug.FreeOSMemory()
	return readRSS()
}

// readRSS reads VmRSS (KiB) from /proc/self/status (Linux only).
func readRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("VmRSS: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Bytes()
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := bytes.Fields(v)
			if len(f) != 2 || string(f[1]) != "kB" {
				return 0, fmt.Errorf("VmRSS: unexpected line %q", line)
			}
			return strconv.ParseInt(string(f[0]), 10, 64)
		}
	}
	return 0, errors.New("VmRSS: not in /proc/self/status")
}
