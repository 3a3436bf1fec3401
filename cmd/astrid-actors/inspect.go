package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/actors"
	"github.com/astrid-actors/astrid-actors/internal/modcheck"
	"github.com/astrid-actors/astrid-actors/internal/preempt"
	"github.com/astrid-actors/astrid-actors/manifest"
)

type inspectOptions struct {
	cache cacheFlag
	json  bool
}

func newInspectCommand() *cobra.Command {
	o := &inspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect [--json] FILE.wasm",
		Short: "Describe a capsule module and check it against the capsule ABI",
		Long: `Compile a WebAssembly module (without instantiating it) and print its size, sha256, entry
point (run, _start or none), imports grouped by module with their ABI status (provided,
unknown, wrong signature), exports, memory limits, interceptor exports, and whether this
runtime can run it as a capsule.

Exit code 0 when the module is compatible with the capsule ABI, 1 when it is not (or cannot
be read or parsed), 2 for a bad command line.`,
		Example: `  astrid-actors inspect capsule.wasm
  astrid-actors inspect --json capsule.wasm | jq .compatible`,
		Args: exactArgs(1, "one .wasm file"),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, args[0]) },
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print the report as JSON")
	o.cache.register(cmd)
	return cmd
}

// inspectReport is what inspect prints (--json prints it as is).
type inspectReport struct {
	File        string             `json:"file"`
	Size        int                `json:"size"`
	SHA256      string             `json:"sha256"`
	Entry       string             `json:"entry"`
	Initialize  bool               `json:"initialize"`
	Memory      *memoryReport      `json:"memory"`
	Imports     []importGroup      `json:"imports"`
	Exports     []exportReport     `json:"exports"`
	Interceptor interceptorExports `json:"interceptor_exports"`
	ABIVersion  string             `json:"abi_version"`
	Compatible  bool               `json:"compatible"`
	Kind        string             `json:"kind,omitempty"`
	Problems    []string           `json:"problems"`
	Notes       []string           `json:"notes"`
}

type memoryReport struct {
	Min uint32  `json:"min_pages"`
	Max *uint32 `json:"max_pages"`
}

type importGroup struct {
	Module    string       `json:"module"`
	Functions []importFunc `json:"functions"`
}

// Import statuses (modcheck.Status).
const (
	importProvided       = string(modcheck.Provided)
	importUnknown        = string(modcheck.Unknown)
	importWrongSignature = string(modcheck.WrongSignature)
)

type importFunc struct {
	Name      string `json:"name"`
	Signature string `json:"signature"`
	Status    string `json:"status"`
	// Expected is the ABI's signature when Status is "wrong signature".
	Expected string `json:"expected,omitempty"`
}

type exportReport struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Signature string `json:"signature,omitempty"`
}

type interceptorExports struct {
	HookTrigger bool `json:"astrid-hook-trigger"`
	Realloc     bool `json:"cabi_realloc"`
}

func (o *inspectOptions) run(cmd *cobra.Command, file string) error {
	wasm, err := manifest.ReadModule(file, manifest.DefaultModuleBytes)
	if err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	ctx := context.Background()
	rep, err := describe(ctx, file, wasm)
	if err != nil {
		return fmt.Errorf("inspect: %s: not a WebAssembly module: %s", file, oneLine(err.Error()))
	}
	engine, err := newEngine(ctx, &o.cache, &lineWriter{w: cmd.ErrOrStderr()})
	if err != nil {
		return err
	}
	defer engine.Close(ctx)
	_, compileErr := engine.Compile(ctx, wasm)
	rep.verdict(compileErr)

	out := cmd.OutOrStdout()
	if o.json {
		enc := json.NewEncoder(out)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	} else {
		err = rep.writeText(out)
	}
	if err != nil {
		return err
	}
	if !rep.Compatible {
		return fmt.Errorf("inspect: %s is not a valid capsule for ABI %s: %s", file, abi.Version, oneLine(rep.Problems[0]))
	}
	return nil
}

// describe compiles wasm with a plain interpreter runtime that has the host modules (the ABI
// and WASI) instantiated, and reports the runtime's one module check (internal/modcheck, the
// engine's own) on it: every import's status and every problem, even when the module is not a
// valid capsule.
func describe(ctx context.Context, file string, wasm []byte) (*inspectReport, error) {
	sum := sha256.Sum256(wasm)
	rep := &inspectReport{File: file, Size: len(wasm), SHA256: hex.EncodeToString(sum[:]), ABIVersion: abi.Version,
		Imports: []importGroup{}, Exports: []exportReport{}, Problems: []string{}, Notes: []string{}}
	// The engine's instrumentation reads every section first and refuses vector counts larger
	// than their section: wazero's decoder allocates by the declared count, so 33 bytes
	// claiming 3·10⁹ imports would otherwise exhaust the memory of this process.
	if _, err := preempt.Instrument(wasm); errors.Is(err, preempt.ErrMalformed) {
		return nil, err
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return nil, err
	}
	compiled, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		return nil, err
	}
	defer compiled.Close(ctx)
	check := modcheck.Check(compiled, rt.Module(wasi_snapshot_preview1.ModuleName).ExportedFunctionDefinitions(), actors.MaxMemoryPages)

	for _, imp := range check.Imports {
		f := importFunc{Name: imp.Name, Signature: imp.Signature(), Status: string(imp.Status), Expected: imp.Expected()}
		i := slices.IndexFunc(rep.Imports, func(g importGroup) bool { return g.Module == imp.Module })
		if i < 0 {
			rep.Imports = append(rep.Imports, importGroup{Module: imp.Module})
			i = len(rep.Imports) - 1
		}
		rep.Imports[i].Functions = append(rep.Imports[i].Functions, f)
	}
	rep.Problems = append(rep.Problems, check.Problems...)

	for name, f := range compiled.ExportedFunctions() {
		rep.Exports = append(rep.Exports, exportReport{Name: name, Kind: "function", Signature: modcheck.Signature(f.ParamTypes(), f.ResultTypes())})
	}
	for name := range compiled.ExportedMemories() {
		rep.Exports = append(rep.Exports, exportReport{Name: name, Kind: "memory"})
	}
	slices.SortFunc(rep.Exports, func(a, b exportReport) int { return strings.Compare(a.Name, b.Name) })
	if check.Memory {
		rep.Memory = &memoryReport{Min: check.MinPages}
		if check.HasMax {
			maxPages := check.MaxPages
			rep.Memory.Max = &maxPages
		}
	}
	rep.Entry, rep.Initialize = check.Entry, check.Initialize
	rep.Interceptor = interceptorExports{HookTrigger: check.HookTrigger, Realloc: check.Realloc}
	return rep, nil
}

// verdict sets Compatible, Kind and Notes. compileErr is the runtime engine's compile result,
// which can only add a problem the shared check does not know of (the compiler's own limits).
func (rep *inspectReport) verdict(compileErr error) {
	if compileErr != nil && len(rep.Problems) == 0 {
		rep.Problems = append(rep.Problems, compileErr.Error())
	}
	rep.Compatible = len(rep.Problems) == 0
	switch {
	case rep.Entry != modcheck.EntryNone:
		rep.Kind = "run-loop capsule (" + rep.Entry + ")"
	case rep.Interceptor.HookTrigger && rep.Interceptor.Realloc:
		rep.Kind = "reactor serving interceptor handlers"
	default:
		rep.Kind = "reactor"
	}
	if !rep.Compatible {
		rep.Kind = ""
	}
	if rep.Interceptor.HookTrigger != rep.Interceptor.Realloc {
		rep.Notes = append(rep.Notes, "exports only one of astrid-hook-trigger and cabi_realloc: interceptor handlers need both")
	}
	if rep.Entry != modcheck.EntryNone && rep.Interceptor.HookTrigger && rep.Interceptor.Realloc {
		rep.Notes = append(rep.Notes, "has a run loop: a manifest may not declare [subscribe] handlers for it")
	}
	if rep.Entry == modcheck.EntryNone && !(rep.Interceptor.HookTrigger && rep.Interceptor.Realloc) {
		rep.Notes = append(rep.Notes, "no run loop and no interceptor exports: the capsule would never run any code")
	}
	if rep.Memory != nil && rep.Memory.Min > actors.DefaultMemoryPages {
		rep.Notes = append(rep.Notes, fmt.Sprintf("needs %d memory pages at start: the manifest must raise [limits] memory_pages (default %d)",
			rep.Memory.Min, actors.DefaultMemoryPages))
	}
}

func (rep *inspectReport) writeText(w io.Writer) error {
	kv := func(key, format string, args ...any) {
		fmt.Fprintf(w, "%-14s%s\n", key, fmt.Sprintf(format, args...))
	}
	// list writes rows with aligned columns (over all rows) and no trailing blanks.
	list := func(rows [][]string) {
		var widths []int
		for _, r := range rows {
			for i, c := range r {
				if i >= len(widths) {
					widths = append(widths, 0)
				}
				if len(r) > 1 {
					widths[i] = max(widths[i], len(c))
				}
			}
		}
		for _, r := range rows {
			var b strings.Builder
			for i, c := range r {
				if i < len(r)-1 {
					fmt.Fprintf(&b, "%-*s  ", widths[i], c)
				} else {
					b.WriteString(c)
				}
			}
			fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
		}
	}
	kv("file", "%s", rep.File)
	kv("size", "%d bytes", rep.Size)
	kv("sha256", "%s", rep.SHA256)
	entry := rep.Entry
	if rep.Initialize {
		entry += " (after _initialize)"
	}
	kv("entry", "%s", entry)
	switch m := rep.Memory; {
	case m == nil:
		kv("memory", "not exported as \"memory\"")
	case m.Max == nil:
		kv("memory", "min %s (%s), no max (the capsule's memory_pages limit applies)", pages(m.Min), pagesSize(m.Min))
	default:
		kv("memory", "min %s (%s), max %s (%s)", pages(m.Min), pagesSize(m.Min), pages(*m.Max), pagesSize(*m.Max))
	}
	n := 0
	for _, g := range rep.Imports {
		n += len(g.Functions)
	}
	kv("imports", "%d function(s) from %d module(s)", n, len(rep.Imports))
	var rows [][]string
	for _, g := range rep.Imports {
		rows = append(rows, []string{"  " + g.Module})
		for _, f := range g.Functions {
			status := f.Status
			if f.Expected != "" {
				status += " (the ABI defines " + f.Expected + ")"
			}
			rows = append(rows, []string{"    " + f.Name, f.Signature, status})
		}
	}
	list(rows)
	rows = rows[:0]
	kv("exports", "%d", len(rep.Exports))
	for _, e := range rep.Exports {
		rows = append(rows, []string{"  " + e.Name, e.Kind, e.Signature})
	}
	list(rows)
	kv("interceptors", "astrid-hook-trigger %s, cabi_realloc %s", yesNo(rep.Interceptor.HookTrigger), yesNo(rep.Interceptor.Realloc))
	if rep.Compatible {
		kv("ABI", "compatible with capsule ABI %s: %s", rep.ABIVersion, rep.Kind)
	} else {
		kv("ABI", "NOT compatible with capsule ABI %s:", rep.ABIVersion)
		for _, p := range rep.Problems {
			fmt.Fprintf(w, "  - %s\n", oneLine(p))
		}
	}
	for _, note := range rep.Notes {
		kv("note", "%s", note)
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// pages renders a number of pages.
func pages(n uint32) string {
	if n == 1 {
		return "1 page"
	}
	return fmt.Sprintf("%d pages", n)
}

// pagesSize renders a number of 64 KiB pages as a size.
func pagesSize(pages uint32) string {
	kib := uint64(pages) * 64
	switch {
	case kib >= 1<<20 && kib%(1<<20) == 0:
		return fmt.Sprintf("%d GiB", kib>>20)
	case kib >= 1024 && kib%1024 == 0:
		return fmt.Sprintf("%d MiB", kib>>10)
	}
	return fmt.Sprintf("%d KiB", kib)
}
