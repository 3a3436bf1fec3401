package preempt

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
	"go.uber.org/goleak"

	"github.com/astrid-actors/astrid-actors/internal/leakcheck"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakcheck.Options()...)
}

func readFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".wasm"))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustInstrument(tb testing.TB, wasm []byte) []byte {
	tb.Helper()
	out, err := Instrument(wasm)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// newRuntime is a runtime without wazero's loop check, with astrid:preempt registered, the
// host module env (env.add, env.started) and the module consts (consts.g = 41).
func newRuntime(tb testing.TB, interpreter bool, started func()) wazero.Runtime {
	tb.Helper()
	ctx := context.Background()
	cfg := wazero.NewRuntimeConfigCompiler()
	if interpreter {
		cfg = wazero.NewRuntimeConfigInterpreter()
	}
	rt := wazero.NewRuntimeWithConfig(ctx, cfg.WithCloseOnContextDone(false))
	tb.Cleanup(func() { _ = rt.Close(context.Background()) })
	if err := Register(ctx, rt); err != nil {
		tb.Fatal(err)
	}
	if started == nil {
		started = func() {}
	}
	if _, err := rt.NewHostModuleBuilder("env").
		NewFunctionBuilder().WithFunc(func(a, b uint32) uint32 { return a + b }).Export("add").
		NewFunctionBuilder().WithFunc(started).Export("started").
		Instantiate(ctx); err != nil {
		tb.Fatal(err)
	}
	if _, err := rt.InstantiateWithConfig(ctx, readFixture(tb, "consts"), wazero.NewModuleConfig().WithName("consts")); err != nil {
		tb.Fatal(err)
	}
	return rt
}

func instantiate(tb testing.TB, rt wazero.Runtime, wasm []byte) api.Module {
	tb.Helper()
	mod, err := rt.InstantiateWithConfig(context.Background(), wasm, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		tb.Fatal(err)
	}
	return mod
}

// TestInstrumentBehavesTheSame runs each export of the fixtures in the original module and in
// the instrumented one (compiler and interpreter) and compares results with the expected
// ones: branches across the inserted code, multi-value loops, br_table, and every function
// index the renumbering moves (calls, imports, ref.func, element segments, a funcref global,
// table.init, exports, the start function).
func TestInstrumentBehavesTheSame(t *testing.T) {
	type call struct {
		fn   string
		args []uint64
		want []uint64
	}
	for _, tc := range []struct {
		fixture string
		calls   []call
	}{
		{"loops", []call{
			{"count", []uint64{0}, []uint64{0}},
			{"count", []uint64{5000}, []uint64{5000}},
			{"nested", []uint64{37, 41}, []uint64{37 * 41}},
			{"nested", []uint64{0, 9}, []uint64{0}},
			{"multi", []uint64{1}, []uint64{1, 1}},
			{"multi", []uint64{3000}, []uint64{3000 * 3001 / 2, 3000}},
			{"table", []uint64{0}, []uint64{111}},
			{"table", []uint64{1}, []uint64{110}},
			{"table", []uint64{2}, []uint64{100}},
			{"table", []uint64{9}, []uint64{0}},
		}},
		{"indices", []call{
			{"started", nil, []uint64{42}},
			{"calls", []uint64{10}, []uint64{31}},
			{"indirect", []uint64{0, 7}, []uint64{14}},
			{"indirect", []uint64{1, 7}, []uint64{21}},
			{"late", []uint64{7}, []uint64{49}},
			{"reffunc", []uint64{7}, []uint64{8}},
			{"global", []uint64{7}, []uint64{21}},
			{"square", []uint64{9}, []uint64{81}},
		}},
		{"simd", []call{
			{"lanes", []uint64{1}, nil},
			{"lanes", []uint64{3000}, nil},
		}},
	} {
		wasm := readFixture(t, tc.fixture)
		inst := mustInstrument(t, wasm)
		for _, interp := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/interpreter=%v", tc.fixture, interp), func(t *testing.T) {
				rt := newRuntime(t, interp, nil)
				orig, got := instantiate(t, rt, wasm), instantiate(t, rt, inst)
				for _, c := range tc.calls {
					want, err := orig.ExportedFunction(c.fn).Call(context.Background(), c.args...)
					if err != nil {
						t.Fatalf("original %s%v: %v", c.fn, c.args, err)
					}
					if c.want != nil && !slices.Equal(want, c.want) {
						t.Fatalf("original %s%v = %v, fixture says %v", c.fn, c.args, want, c.want)
					}
					res, err := got.ExportedFunction(c.fn).Call(context.Background(), c.args...)
					if err != nil {
						t.Fatalf("instrumented %s%v: %v", c.fn, c.args, err)
					}
					if !slices.Equal(res, want) {
						t.Errorf("instrumented %s%v = %v, original %v", c.fn, c.args, res, want)
					}
				}
			})
		}
	}
}

// TestInstrumentKeepsNames checks that a trap's stack trace in the instrumented module is the
// original's, word for word: the name section's function names follow the renumbering.
func TestInstrumentKeepsNames(t *testing.T) {
	wasm := readFixture(t, "trap")
	rt := newRuntime(t, false, nil)
	var traces []string
	for _, b := range [][]byte{wasm, mustInstrument(t, wasm)} {
		_, err := instantiate(t, rt, b).ExportedFunction("run").Call(context.Background(), 3000)
		if err == nil {
			t.Fatal("run did not trap")
		}
		traces = append(traces, err.Error())
	}
	if !strings.Contains(traces[0], "deep_trap") || !strings.Contains(traces[0], "outer_fn") {
		t.Fatalf("the original trace does not name the functions: %s", traces[0])
	}
	if traces[1] != traces[0] {
		t.Errorf("instrumented trace:\n%s\noriginal:\n%s", traces[1], traces[0])
	}
}

// TestInstrumentAddsOneImport checks the import list: the guest's own in their order, then
// astrid:preempt.check; and that the exports keep their signatures.
func TestInstrumentAddsOneImport(t *testing.T) {
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	wasm := readFixture(t, "indices")
	orig, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	got, err := rt.CompileModule(ctx, mustInstrument(t, wasm))
	if err != nil {
		t.Fatal(err)
	}
	names := func(defs []api.FunctionDefinition) (out []string) {
		for _, d := range defs {
			m, n, _ := d.Import()
			out = append(out, m+"."+n)
		}
		return out
	}
	want := append(names(orig.ImportedFunctions()), Module+"."+Name)
	if g := names(got.ImportedFunctions()); !slices.Equal(g, want) {
		t.Errorf("imports %v, want %v", g, want)
	}
	for name, f := range orig.ExportedFunctions() {
		g := got.ExportedFunctions()[name]
		if g == nil || !slices.Equal(g.ParamTypes(), f.ParamTypes()) || !slices.Equal(g.ResultTypes(), f.ResultTypes()) {
			t.Errorf("export %s changed: %v", name, g)
		}
	}
}

// TestInstrumentRefuses checks the errors: a guest importing the reserved module, bytes that
// are not a module, a truncated module, an instruction of a feature the engine does not
// enable.
func TestInstrumentRefuses(t *testing.T) {
	valid := readFixture(t, "loops")
	// threads: (func (drop (i32.atomic.load (i32.const 0)))) needs 0xfe
	threads := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
		0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type () -> ()
		0x03, 0x02, 0x01, 0x00, // one function of type 0
		0x05, 0x03, 0x01, 0x00, 0x01, // memory 1
		0x0a, 0x0b, 0x01, 0x09, 0x00, 0x41, 0x00, 0xfe, 0x10, 0x02, 0x00, 0x1a, 0x0b}
	for _, tc := range []struct {
		name string
		wasm []byte
		want error
	}{
		{"reserved", readFixture(t, "reserved"), ErrReserved},
		{"not wasm", []byte("hello, world"), ErrMalformed},
		{"truncated", valid[:len(valid)-9], ErrMalformed},
		{"threads", threads, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Instrument(tc.wasm)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Instrument = %v, want %v", err, tc.want)
			}
			t.Log(err)
		})
	}
}

// corpus is every .wasm of the repository's fixtures (testdata/ and internal/bench/wasm).
func corpus(tb testing.TB) map[string][]byte {
	tb.Helper()
	out := map[string][]byte{}
	for _, root := range []string{"testdata", "../../testdata", "../bench/wasm"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || filepath.Ext(path) != ".wasm" {
				return err
			}
			b, err := os.ReadFile(path)
			out[path] = b
			return err
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	return out
}

// TestInstrumentCorpus instruments every committed .wasm fixture and checks that wazero
// compiles the result whenever it compiles the original. (The Go-built guests and the
// behaviour of every fixture are covered by the engine's users: every capsule test runs
// instrumented modules.)
func TestInstrumentCorpus(t *testing.T) {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	files := corpus(t)
	if len(files) < 40 {
		t.Fatalf("only %d fixtures found", len(files))
	}
	for path, wasm := range files {
		if _, err := rt.CompileModule(ctx, wasm); err != nil {
			continue // an invalid fixture on purpose
		}
		out, err := Instrument(wasm)
		if errors.Is(err, ErrReserved) {
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if _, err := rt.CompileModule(ctx, out); err != nil {
			t.Errorf("%s: instrumented module does not compile: %v", path, err)
		}
	}
}

// FuzzInstrument checks that Instrument never panics and that whenever wazero accepts a
// module, it accepts the instrumented one too.
//
//	go test -run xxx -fuzz FuzzInstrument -fuzztime 60s ./internal/preempt/
func FuzzInstrument(f *testing.F) {
	for _, b := range corpus(f) {
		f.Add(b)
	}
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	f.Cleanup(func() { _ = rt.Close(ctx) })
	f.Fuzz(func(t *testing.T, wasm []byte) {
		out, err := Instrument(wasm)
		if errors.Is(err, ErrNotModule) || errors.Is(err, errCount) {
			// invalid by construction; and wazero's decoder allocates by declared counts
			// (a module declaring 3·10⁹ imports in 33 bytes runs it out of memory), which
			// is why the engine does not hand it such bytes either
			return
		}
		valid := false
		if m, cerr := rt.CompileModule(ctx, wasm); cerr == nil {
			valid = true
			_ = m.Close(ctx)
		}
		if err != nil {
			if valid && !errors.Is(err, ErrReserved) {
				t.Fatalf("wazero accepts the module, Instrument fails: %v", err)
			}
			return
		}
		if !valid {
			return
		}
		m, err := rt.CompileModule(ctx, out)
		if err != nil {
			t.Fatalf("wazero accepts the module, not the instrumented one: %v", err)
		}
		_ = m.Close(ctx)
	})
}

// TestSpinningGuestStops runs guests that never return on their own (an empty loop, nested
// loops, exponential recursion without loops, which wazero's own check never interrupted)
// instrumented, without wazero's check, and stops each by cancelling the call's context, by a
// deadline and by closing the module from another goroutine: the call ends with the exit code
// wazero's WithCloseOnContextDone gives (or the module's close code), promptly.
func TestSpinningGuestStops(t *testing.T) {
	inst := mustInstrument(t, readFixture(t, "spin"))
	type stop struct {
		name string
		code uint32
		do   func(cancel context.CancelFunc, mod api.Module)
	}
	stops := []stop{
		{"cancel", sys.ExitCodeContextCanceled, func(cancel context.CancelFunc, _ api.Module) { cancel() }},
		{"close", 7, func(_ context.CancelFunc, mod api.Module) { _ = mod.CloseWithExitCode(context.Background(), 7) }},
		{"deadline", sys.ExitCodeDeadlineExceeded, nil},
	}
	for _, interp := range []bool{false, true} {
		for _, fn := range []string{"tight", "nested", "fib"} {
			for _, s := range stops {
				t.Run(fmt.Sprintf("interpreter=%v/%s/%s", interp, fn, s.name), func(t *testing.T) {
					started := make(chan struct{}, 1)
					rt := newRuntime(t, interp, func() { started <- struct{}{} })
					mod := instantiate(t, rt, inst)
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					if s.do == nil {
						ctx, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
						defer cancel()
					}
					var args []uint64
					if fn == "fib" {
						args = []uint64{50}
					}
					errc := make(chan error, 1)
					go func() {
						_, err := mod.ExportedFunction(fn).Call(ctx, args...)
						errc <- err
					}()
					<-started
					t0 := time.Now()
					if s.do != nil {
						s.do(cancel, mod)
					}
					var err error
					select {
					case err = <-errc:
					case <-time.After(30 * time.Second):
						_ = mod.Close(context.Background())
						t.Fatal("the guest did not stop within 30 s")
					}
					var exit *sys.ExitError
					if !errors.As(err, &exit) || exit.ExitCode() != s.code {
						t.Fatalf("call ended with %v, want exit code %d", err, s.code)
					}
					if !mod.IsClosed() {
						t.Error("the module is not closed")
					}
					t.Logf("stopped %v after the stop", time.Since(t0))
				})
			}
		}
	}
}

// BenchmarkBudget measures the tight loop of loops.wasm (count: one back-edge per iteration)
// instrumented with budgets from 64 to 16384, against the loop without instrumentation
// (budget=none), in process CPU ns per iteration; and stop-latency, the time from cancelling
// the context to the end of the call of a spinning guest (spin.wasm's tight loop).
//
//	go test -run xxx -bench Budget -benchtime 5x ./internal/preempt/
func BenchmarkBudget(b *testing.B) {
	const n = 1 << 24
	wasm := readFixture(b, "loops")
	for _, budget := range []uint32{0, 64, 256, 1024, 4096, 16384} {
		name := fmt.Sprintf("budget=%d", budget)
		code := wasm
		if budget == 0 {
			name = "budget=none"
		} else {
			var err error
			if code, err = InstrumentBudget(wasm, budget); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(name, func(b *testing.B) {
			mod := instantiate(b, newRuntime(b, false, nil), code)
			count := mod.ExportedFunction("count")
			cpu0 := processCPU()
			for range b.N {
				if _, err := count.Call(context.Background(), n); err != nil {
					b.Fatal(err)
				}
			}
			cpu := processCPU() - cpu0
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/iter")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/n, "cpu-ns/iter")
		})
	}
	spin := readFixture(b, "spin")
	for _, budget := range []uint32{1024, 16384} {
		code, err := InstrumentBudget(spin, budget)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("stop/budget=%d", budget), func(b *testing.B) {
			started := make(chan struct{}, 1)
			rt := newRuntime(b, false, func() { started <- struct{}{} })
			var total time.Duration
			for range b.N {
				mod := instantiate(b, rt, code)
				ctx, cancel := context.WithCancel(context.Background())
				errc := make(chan error, 1)
				go func() {
					_, err := mod.ExportedFunction("tight").Call(ctx)
					errc <- err
				}()
				<-started
				t0 := time.Now()
				cancel()
				<-errc
				total += time.Since(t0)
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "stop-ns")
		})
	}
}
