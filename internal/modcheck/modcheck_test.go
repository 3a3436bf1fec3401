package modcheck

import (
	"context"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"go.uber.org/goleak"

	"github.com/astrid-actors/astrid-actors/hostfuncs"
	"github.com/astrid-actors/astrid-actors/internal/leakcheck"
	"github.com/astrid-actors/astrid-actors/internal/preempt"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, leakcheck.Options()...) }

// check compiles testdata/<name>.wasm (built from the .wat next to it) and checks it against
// the runtime's WASI.
func check(t *testing.T, name string) Report {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	t.Cleanup(func() { _ = rt.Close(ctx) })
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		t.Fatal(err)
	}
	wasm, err := os.ReadFile("testdata/" + name + ".wasm")
	if err != nil {
		t.Fatal(err)
	}
	compiled, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	return Check(compiled, rt.Module(wasi_snapshot_preview1.ModuleName).ExportedFunctionDefinitions(), 16384)
}

func TestCheck(t *testing.T) {
	type imp struct{ name, status, sig, expected string }
	for _, tt := range []struct {
		file     string
		imports  []imp
		problems []string
		entry    string
		init     bool
		hooks    bool
		memory   bool
		min, max uint32
	}{
		{
			file: "good",
			imports: []imp{
				{"astrid:ipc@1.0.0.publish", "provided", "(i32, i32, i32, i32) -> (i32)", ""},
				{"astrid:sys@1.0.0.signal-ready", "provided", "() -> (i32)", ""},
				{"wasi_snapshot_preview1.fd_write", "provided", "(i32, i32, i32, i32) -> (i32)", ""},
			},
			entry: EntryRun, init: true, hooks: true, memory: true, min: 2, max: 4,
		},
		{
			file: "bad",
			imports: []imp{
				{"astrid:ipc@1.0.0.publish", "wrong signature", "(i32, i32) -> (i32)", "(i32, i32, i32, i32) -> (i32)"},
				{"astrid:sys@1.0.0.no-such-function", "unknown", "() -> ()", ""},
				{"wasi_snapshot_preview1.fd_write", "wrong signature", "(i32) -> ()", "(i32, i32, i32, i32) -> (i32)"},
				{"wasi_snapshot_preview1.no_such_call", "unknown", "() -> ()", ""},
				{"env.whatever", "unknown", "() -> ()", ""},
				{"astrid:sys@1.0.0.clock-ms", "provided", "() -> (i64)", ""},
			},
			problems: []string{
				"import astrid:ipc@1.0.0.publish has signature (i32, i32) -> (i32), the ABI defines (i32, i32, i32, i32) -> (i32)",
				"imports astrid:sys@1.0.0.no-such-function, which ABI 1.0.0 does not provide",
				"import wasi_snapshot_preview1.fd_write has signature (i32) -> (), WASI defines (i32, i32, i32, i32) -> (i32)",
				"imports wasi_snapshot_preview1.no_such_call, which WASI preview 1 does not define",
				`imports env.whatever from module "env", which this runtime does not provide`,
				"imports a memory; capsules must define and export their own",
				`does not export its memory as "memory"`,
			},
			entry: EntryStart,
		},
		{
			file:     "big",
			problems: []string{"needs 20000 memory pages at start, limit 16384"},
			entry:    EntryNone, memory: true, min: 20000,
		},
	} {
		t.Run(tt.file, func(t *testing.T) {
			rep := check(t, tt.file)
			var imports []imp
			for _, i := range rep.Imports {
				imports = append(imports, imp{i.Module + "." + i.Name, string(i.Status), i.Signature(), i.Expected()})
				if (i.Status == Provided) != (i.Problem == "") {
					t.Errorf("%s.%s: status %s with problem %q", i.Module, i.Name, i.Status, i.Problem)
				}
			}
			if !slices.Equal(imports, tt.imports) {
				t.Errorf("imports\n%q\nwant\n%q", imports, tt.imports)
			}
			if !slices.Equal(rep.Problems, tt.problems) {
				t.Errorf("problems\n%q\nwant\n%q", rep.Problems, tt.problems)
			}
			if rep.Entry != tt.entry || rep.Initialize != tt.init || rep.HookTrigger != tt.hooks || rep.Realloc != tt.hooks {
				t.Errorf("entry %s, initialize %v, hooks %v/%v", rep.Entry, rep.Initialize, rep.HookTrigger, rep.Realloc)
			}
			if rep.Memory != tt.memory || rep.MinPages != tt.min || rep.MaxPages != tt.max || rep.HasMax != (tt.max > 0) {
				t.Errorf("memory %v min %d max %d (%v)", rep.Memory, rep.MinPages, rep.MaxPages, rep.HasMax)
			}
		})
	}
}

// TestEveryHostFunctionIsProvided: the check accepts exactly the host table's signatures, for
// every module the table holds (so a module added to hostfuncs needs no change here).
func TestEveryHostFunctionIsProvided(t *testing.T) {
	for _, f := range hostfuncs.Functions() {
		fns, ok := provided[f.Module]
		if !ok {
			t.Fatalf("module %s of the host table is not provided", f.Module)
		}
		got, ok := fns[f.Name]
		if !ok || !slices.Equal(got.Params, f.Params) || !slices.Equal(got.Results, f.Results) {
			t.Errorf("%s.%s: provided %+v", f.Module, f.Name, got)
		}
	}
}

// TestCheckInstrumented checks that the engine's check of an instrumented module reports the
// guest's own imports (those Check reports on the original bytes), and that Check reports an
// import from the reserved module astrid:preempt as a problem.
func TestCheckInstrumented(t *testing.T) {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		t.Fatal(err)
	}
	wasi := rt.Module(wasi_snapshot_preview1.ModuleName).ExportedFunctionDefinitions()
	compile := func(wasm []byte) wazero.CompiledModule {
		c, err := rt.CompileModule(ctx, wasm)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, name := range []string{"good", "bad"} {
		wasm, err := os.ReadFile("testdata/" + name + ".wasm")
		if err != nil {
			t.Fatal(err)
		}
		inst, err := preempt.Instrument(wasm)
		if err != nil {
			t.Fatal(err)
		}
		want := Check(compile(wasm), wasi, 16384)
		got := CheckInstrumented(compile(inst), wasi, 16384)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: CheckInstrumented = %+v, Check of the original = %+v", name, got, want)
		}
		// Check on the instrumented bytes sees the added import: the module as a guest
		// written that way, which the runtime refuses.
		rep := Check(compile(inst), wasi, 16384)
		if !slices.ContainsFunc(rep.Problems, func(p string) bool { return strings.Contains(p, `"astrid:preempt" is reserved`) }) {
			t.Errorf("%s: Check of a module importing astrid:preempt: problems %q", name, rep.Problems)
		}
	}
}
