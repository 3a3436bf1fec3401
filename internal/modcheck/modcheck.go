// Package modcheck is the one check of a compiled WebAssembly module against what the runtime
// provides, used by the engine (actors.Engine.Compile refuses a module with problems) and by
// `astrid-actors inspect` and `validate` (which print the same verdicts).
//
// What the runtime provides is data, not code: every function of the host ABI table
// (hostfuncs.Functions, whatever modules it holds) and every function of WASI preview 1 as the
// runtime instantiated it. A module added to the host table is accepted here without a change.
package modcheck

import (
	"fmt"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/hostfuncs"
	"github.com/astrid-actors/astrid-actors/internal/preempt"
)

// Status is the verdict on one import.
type Status string

// Import statuses.
const (
	// Provided: the runtime provides the function with this signature.
	Provided Status = "provided"
	// Unknown: the runtime provides no such function (or no such module).
	Unknown Status = "unknown"
	// WrongSignature: the runtime provides the function with another signature.
	WrongSignature Status = "wrong signature"
)

// Entry points, as Report.Entry names them.
const (
	EntryRun   = "run"
	EntryStart = "_start"
	EntryNone  = "none"
)

// Import is one imported function and its verdict.
type Import struct {
	Module, Name    string
	Params, Results []api.ValueType
	Status          Status
	// WantParams and WantResults are the provided signature when Status is WrongSignature.
	WantParams, WantResults []api.ValueType
	// Problem says why the import cannot be satisfied ("" when Provided).
	Problem string
}

// Signature renders the import's type, e.g. "(i32, i64) -> (i32)".
func (i Import) Signature() string { return Signature(i.Params, i.Results) }

// Expected renders the provided type when Status is WrongSignature, else "".
func (i Import) Expected() string {
	if i.Status != WrongSignature {
		return ""
	}
	return Signature(i.WantParams, i.WantResults)
}

// Report is the verdict on a module.
type Report struct {
	// Imports are the imported functions in the module's order.
	Imports []Import
	// Entry is EntryRun (exports run: () -> ()), EntryStart (a WASI command's _start) or
	// EntryNone (a reactor).
	Entry string
	// Initialize: exports _initialize: () -> ().
	Initialize bool
	// HookTrigger and Realloc: exports astrid-hook-trigger and cabi_realloc, which interceptor
	// handlers need.
	HookTrigger, Realloc bool
	// Memory: exports its memory as "memory", of MinPages initial pages and, when HasMax (the
	// module declares a maximum), MaxPages at most.
	Memory             bool
	MinPages, MaxPages uint32
	HasMax             bool
	// Problems are every reason the runtime cannot run the module, import problems first
	// (in import order); empty when it can.
	Problems []string
}

// provided indexes the host ABI table by module and name.
var provided = func() map[string]map[string]hostfuncs.Function {
	m := map[string]map[string]hostfuncs.Function{}
	for _, f := range hostfuncs.Functions() {
		if m[f.Module] == nil {
			m[f.Module] = map[string]hostfuncs.Function{}
		}
		m[f.Module][f.Name] = f
	}
	return m
}()

// Check checks compiled against the host ABI table and wasi, the function definitions of the
// runtime's WASI preview 1 module; maxPages is the most initial memory pages a capsule may
// need. An import from the reserved module astrid:preempt is a problem.
func Check(compiled wazero.CompiledModule, wasi map[string]api.FunctionDefinition, maxPages uint32) Report {
	return checkModule(compiled, wasi, maxPages, false)
}

// CheckInstrumented is Check of a module as internal/preempt.Instrument rewrote it (what the
// engine compiles): the import astrid:preempt.check it added is left out of the report, which
// is then the guest's own, as Check reports it on the original bytes.
func CheckInstrumented(compiled wazero.CompiledModule, wasi map[string]api.FunctionDefinition, maxPages uint32) Report {
	return checkModule(compiled, wasi, maxPages, true)
}

func checkModule(compiled wazero.CompiledModule, wasi map[string]api.FunctionDefinition, maxPages uint32, instrumented bool) Report {
	var rep Report
	for _, f := range compiled.ImportedFunctions() {
		if mod, name, _ := f.Import(); instrumented && mod == preempt.Module && name == preempt.Name {
			continue
		}
		imp := checkImport(f, wasi)
		if imp.Problem != "" {
			rep.Problems = append(rep.Problems, imp.Problem)
		}
		rep.Imports = append(rep.Imports, imp)
	}
	if len(compiled.ImportedMemories()) > 0 {
		rep.Problems = append(rep.Problems, "imports a memory; capsules must define and export their own")
	}
	if mem, ok := compiled.ExportedMemories()["memory"]; ok {
		rep.Memory, rep.MinPages = true, mem.Min()
		if maxPages, ok := mem.Max(); ok {
			rep.MaxPages, rep.HasMax = maxPages, true
		}
		if rep.MinPages > maxPages {
			rep.Problems = append(rep.Problems, fmt.Sprintf("needs %d memory pages at start, limit %d", rep.MinPages, maxPages))
		}
	} else {
		rep.Problems = append(rep.Problems, `does not export its memory as "memory"`)
	}
	exports := compiled.ExportedFunctions()
	noArgs := func(name string) bool {
		f, ok := exports[name]
		return ok && len(f.ParamTypes()) == 0 && len(f.ResultTypes()) == 0
	}
	switch {
	case noArgs(EntryRun):
		rep.Entry = EntryRun
	case noArgs(EntryStart):
		rep.Entry = EntryStart
	default:
		rep.Entry = EntryNone
	}
	rep.Initialize = noArgs("_initialize")
	_, rep.HookTrigger = exports["astrid-hook-trigger"]
	_, rep.Realloc = exports["cabi_realloc"]
	return rep
}

func checkImport(f api.FunctionDefinition, wasi map[string]api.FunctionDefinition) Import {
	mod, name, _ := f.Import()
	imp := Import{Module: mod, Name: name, Params: f.ParamTypes(), Results: f.ResultTypes(), Status: Unknown}
	var (
		want    []api.ValueType
		results []api.ValueType
		definer string
	)
	if mod == preempt.Module {
		imp.Problem = fmt.Sprintf("imports %s.%s: module %q is reserved for the runtime's preemption check", mod, name, mod)
		return imp
	}
	if mod == wasi_snapshot_preview1.ModuleName {
		w, ok := wasi[name]
		if !ok {
			imp.Problem = fmt.Sprintf("imports %s.%s, which WASI preview 1 does not define", mod, name)
			return imp
		}
		want, results, definer = w.ParamTypes(), w.ResultTypes(), "WASI"
	} else if fns, ok := provided[mod]; ok {
		hf, ok := fns[name]
		if !ok {
			imp.Problem = fmt.Sprintf("imports %s.%s, which ABI %s does not provide", mod, name, abi.Version)
			return imp
		}
		want, results, definer = hf.Params, hf.Results, "the ABI"
	} else {
		imp.Problem = fmt.Sprintf("imports %s.%s from module %q, which this runtime does not provide", mod, name, mod)
		return imp
	}
	if !sameTypes(want, imp.Params) || !sameTypes(results, imp.Results) {
		imp.Status, imp.WantParams, imp.WantResults = WrongSignature, want, results
		imp.Problem = fmt.Sprintf("import %s.%s has signature %s, %s defines %s", mod, name, imp.Signature(), definer, imp.Expected())
		return imp
	}
	imp.Status = Provided
	return imp
}

func sameTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Signature renders a function type as "(i32, i32) -> (i32)".
func Signature(params, results []api.ValueType) string {
	names := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = api.ValueTypeName(t)
		}
		return strings.Join(s, ", ")
	}
	return "(" + names(params) + ") -> (" + names(results) + ")"
}
