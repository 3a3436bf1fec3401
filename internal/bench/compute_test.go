package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/astrid-actors/astrid-actors/internal/testguests"
)

// The cost of the loop check (requirement 8 of issue 15). A capsule spinning without host
// calls must still stop, so every capsule is compiled with a check. wazero's
// (WithCloseOnContextDone(true), the engine's until then) inserts, at every loop header, an
// indirect call to a trampoline that leaves the machine code for Go
// (ExitCodeCheckModuleExitCode), checks whether the module was closed and re-enters; function
// calls are not checked. The engine's (internal/preempt) instruments the wasm instead: a
// countdown at every loop header and function entry, one exit to Go every preempt.Budget.
// These benchmarks run the same guests with no check, wazero's and the instrumentation in one
// process; docs/performance.md has the figures.
//
//	go test -run xxx -bench GuestCompute -benchtime 2x ./internal/bench/

// computeIters are the loop iterations (or the argument) of one call of each export.
const (
	computeSumN   = 1 << 22
	computeFibN   = 25
	computeSieveN = 1 << 20
)

// computeModule is a guest compiled for one setting of the loop check.
type computeModule struct {
	rt  wazero.Runtime
	mod api.Module
}

func (m computeModule) close() { _ = m.rt.Close(context.Background()) }

// newComputeModule instantiates wasm (a WAT fixture, or a Go wasip1 reactor when reactor is
// set) in a runtime with the loop check check.
func newComputeModule(tb testing.TB, wasm []byte, check loopCheck, reactor bool) computeModule {
	tb.Helper()
	ctx := context.Background()
	rt, wasm, err := computeRuntime(ctx, wasm, check, mustCache(tb))
	if err != nil {
		tb.Fatal(err)
	}
	m := computeModule{rt: rt}
	cfg := wazero.NewModuleConfig().WithName("")
	if reactor {
		wasi_snapshot_preview1.MustInstantiate(ctx, rt)
		cfg = cfg.WithStartFunctions("_initialize")
	}
	mod, err := rt.InstantiateWithConfig(ctx, wasm, cfg)
	if err != nil {
		m.close()
		tb.Fatal(err)
	}
	m.mod = mod
	return m
}

func mustCache(tb testing.TB) wazero.CompilationCache {
	c, err := wazero.NewCompilationCacheWithDir(testguests.CacheDir())
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func readWAT(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "wat", name+".wasm"))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func call(tb testing.TB, mod api.Module, fn string, arg uint64) uint64 {
	tb.Helper()
	res, err := mod.ExportedFunction(fn).Call(context.Background(), arg)
	if err != nil {
		tb.Fatal(err)
	}
	return res[0]
}

// sumOfSquares is the result of the sum export, by the loop.
func sumOfSquares(n uint64) uint64 {
	var s uint64
	for i := range n {
		s += i * i
	}
	return s
}

func mustFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := fixture(name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestSumOfSquaresBelow checks the closed form the compute scenario checks results with.
func TestSumOfSquaresBelow(t *testing.T) {
	for _, n := range []uint64{0, 1, 2, 3, 4, 5, 6, 7, 1000, 1 << 20, 1<<22 + 1, 3<<21 + 2} {
		if got, want := sumOfSquaresBelow(n), sumOfSquares(n); got != want {
			t.Errorf("sumOfSquaresBelow(%d) = %d, want %d", n, got, want)
		}
	}
}

// BenchmarkGuestCompute reports ns per loop iteration (sum, sieve's inner and outer
// iterations) or per call (fib) with no loop check, wazero's and the engine's instrumentation
// (check=none, wazero, preempt), in wall time and in process CPU time (cpu-ns/…, 0 off
// Linux); the cost of a check is check=X / check=none of the same guest.
func BenchmarkGuestCompute(b *testing.B) {
	watWasm := mustFixture(b, wasmCompute)
	goWasm := testguests.Build(b, "testdata/guests/compute")
	sieveIters := float64(sieveIterations(computeSieveN))
	fibCalls := float64(fibCallCount(computeFibN))
	cases := []struct {
		name    string
		wasm    []byte
		reactor bool
		fn      string
		arg     uint64
		per     float64
		unit    string
	}{
		{"wat-sum", watWasm, false, "sum", computeSumN, computeSumN, "ns/iter"},
		{"wat-sieve", watWasm, false, "sieve", computeSieveN, sieveIters, "ns/iter"},
		{"wat-fib", watWasm, false, "fib", computeFibN, fibCalls, "ns/call"},
		{"go-sum", goWasm, true, "sum", computeSumN, computeSumN, "ns/iter"},
	}
	for _, c := range cases {
		for _, check := range loopChecks {
			b.Run(fmt.Sprintf("%s/check=%v", c.name, check), func(b *testing.B) {
				m := newComputeModule(b, c.wasm, check, c.reactor)
				defer m.close()
				b.ResetTimer()
				cpu0 := processCPU()
				for range b.N {
					call(b, m.mod, c.fn, c.arg)
				}
				cpu := processCPU() - cpu0
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/c.per, c.unit)
				// the process's CPU time, which unlike the wall time does not grow when the
				// machine is loaded and the benchmark gets a fraction of a core
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/c.per, "cpu-"+c.unit)
			})
		}
	}
}

// sieveIterations counts the loop iterations of the sieve export: the outer loop's n-2 and
// the inner loop's marks.
func sieveIterations(n int) int {
	composite := make([]bool, n)
	iters := 0
	for i := 2; i < n; i++ {
		iters++
		if !composite[i] {
			for j := i * i; j < n; j += i {
				composite[j] = true
				iters++
			}
		}
	}
	return iters
}

// fibCallCount is the number of calls fib(n) makes, itself included.
func fibCallCount(n int) int {
	if n < 2 {
		return 1
	}
	return 1 + fibCallCount(n-1) + fibCallCount(n-2)
}

// TestComputeResults checks that the compute guests compute what the benchmark assumes, with
// each loop check.
func TestComputeResults(t *testing.T) {
	watWasm := mustFixture(t, wasmCompute)
	goWasm := testguests.Build(t, "testdata/guests/compute")
	for _, check := range loopChecks {
		wat := newComputeModule(t, watWasm, check, false)
		goMod := newComputeModule(t, goWasm, check, true)
		for _, tc := range []struct {
			mod  api.Module
			fn   string
			arg  uint64
			want uint64
		}{
			{wat.mod, "sum", 1000, sumOfSquares(1000)},
			{goMod.mod, "sum", 1000, sumOfSquares(1000)},
			{wat.mod, "fib", 20, 6765},
			{wat.mod, "sieve", 100, 25},
			{wat.mod, "sieve", 1 << 20, 82025},
		} {
			if got := call(t, tc.mod, tc.fn, tc.arg); got != tc.want {
				t.Errorf("check=%v: %s(%d) = %d, want %d", check, tc.fn, tc.arg, got, tc.want)
			}
		}
		wat.close()
		goMod.close()
	}
}

// TestLoopCheckIsWhatStops checks what keeps a capsule stoppable. loopstop's run calls
// env.started, loops without host calls, then calls env.finished with its sum; started closes
// the module (api.Module.CloseWithExitCode, as a Stop from another goroutine would) and
// cancels the call's context before the loop begins. With wazero's check the loop stops at its
// first back-edge, with the instrumentation (preempt) within preempt.Budget back-edges, and
// finished is never called; without a check, the machine code runs the whole loop regardless
// (the call only fails afterwards), so the check is what makes a spinning capsule stoppable.
func TestLoopCheckIsWhatStops(t *testing.T) {
	for _, check := range loopChecks {
		t.Run(fmt.Sprintf("check=%v", check), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			rt, wasm, err := computeRuntime(ctx, readWAT(t, "loopstop"), check, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer rt.Close(context.Background())
			var finished []uint64
			if _, err := rt.NewHostModuleBuilder("env").
				NewFunctionBuilder().WithFunc(func(ctx context.Context, m api.Module) {
				cancel()
				_ = m.CloseWithExitCode(ctx, 3)
			}).Export("started").
				NewFunctionBuilder().WithFunc(func(sum uint64) { finished = append(finished, sum) }).Export("finished").
				Instantiate(ctx); err != nil {
				t.Fatal(err)
			}
			mod, err := rt.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithName(""))
			if err != nil {
				t.Fatal(err)
			}
			n := uint64(1 << 40) // hours of looping: only an interruption ends it in time
			if check == checkNone {
				n = 1 << 24 // a few ms
			}
			_, err = mod.ExportedFunction("run").Call(ctx, n)
			var exit *sys.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("run: %v, want an exit error", err)
			}
			switch {
			case check != checkNone && len(finished) != 0:
				t.Fatalf("with the check the loop ran to its end: finished(%v)", finished)
			case check == checkNone && (len(finished) != 1 || finished[0] != sumOfSquares(n)):
				t.Fatalf("without the check: finished(%v), want the whole loop's %d", finished, sumOfSquares(n))
			}
		})
	}
}

// BenchmarkGCWhileGuestSpins measures how long runtime.GC takes while a guest loops without
// host calls (sum over computeSumN·16 iterations, about 70 ms without a check), with no
// check, wazero's and the instrumentation: machine code cannot be preempted by the Go
// scheduler, so without exits to Go a stop-the-world phase waits until the loop ends; with
// the instrumentation it waits for preempt.Budget back-edges at most.
func BenchmarkGCWhileGuestSpins(b *testing.B) {
	wasm := mustFixture(b, wasmCompute)
	for _, check := range loopChecks {
		b.Run(fmt.Sprintf("check=%v", check), func(b *testing.B) {
			m := newComputeModule(b, wasm, check, false)
			defer m.close()
			n := uint64(computeSumN * 16)
			if check == checkWazero {
				n = computeSumN // the loop is slower with the check; it still outlasts the GC
			}
			var total time.Duration
			for range b.N {
				started := make(chan struct{})
				done := make(chan struct{})
				go func() {
					close(started)
					call(b, m.mod, "sum", n)
					close(done)
				}()
				<-started
				runtime.Gosched()
				t0 := time.Now()
				runtime.GC()
				total += time.Since(t0)
				<-done
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "gc-ns")
		})
	}
}
