// Package engine is the wazero side of the runtime: the one process-wide wazero runtime
// (compiler, compilation cache, WASI and the host modules), the compile pipeline of capsule
// modules (internal/preempt's instrumentation, which keeps every guest stoppable, then
// wazero's compile and internal/modcheck's check), and each instance's own memory limit
// (InstanceMemory). Package actors wraps it as actors.Engine and actors.Module; the capsule
// worker (internal/capsuleactor) instantiates the modules.
package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/hostfuncs"
	"github.com/astrid-actors/astrid-actors/internal/modcheck"
	"github.com/astrid-actors/astrid-actors/internal/preempt"
)

// wasiModule is the import module name of WASI preview 1, which Go guests need.
const wasiModule = wasi_snapshot_preview1.ModuleName

// MaxMemoryPages is the highest per-capsule memory limit the engine accepts, in 64 KiB wasm
// pages (1 GiB). Staying well below wazero's 65 536-page ceiling also keeps its 32-bit offset
// arithmetic safe.
const MaxMemoryPages = 16384

// ErrInvalidModule is returned (wrapped) for wasm that cannot run as a capsule.
var ErrInvalidModule = errors.New("invalid capsule module")

// Engine is the process-wide wazero runtime: compiler mode, guests preemptible through their
// context (the countdown internal/preempt instruments them with, not wazero's
// WithCloseOnContextDone), an optional on-disk compilation cache, WASI and the host modules
// (astrid:preempt among them) registered once. Modules must be compiled and instantiated by
// the same Engine.
type Engine struct {
	rt    wazero.Runtime
	cache wazero.CompilationCache
	epoch time.Time
}

// Options configure an Engine.
type Options struct {
	// CacheDir, when set, holds compiled machine code across processes. It is created if
	// missing.
	CacheDir string
	// Interpreter selects wazero's interpreter instead of the compiler.
	Interpreter bool
}

// RuntimeConfig is the wazero configuration of every capsule runtime (the engine's, the
// precompile helper's, the benchmarks'): compiler (or interpreter), the memory ceiling, and no
// WithCloseOnContextDone: capsules are instrumented (internal/preempt) instead, and a module
// that is not does not stop on cancellation.
func RuntimeConfig(interpreter bool) wazero.RuntimeConfig {
	cfg := wazero.NewRuntimeConfigCompiler()
	if interpreter {
		cfg = wazero.NewRuntimeConfigInterpreter()
	}
	return cfg.WithCloseOnContextDone(false).WithMemoryLimitPages(MaxMemoryPages)
}

// New creates the shared wazero runtime.
func New(ctx context.Context, opts Options) (*Engine, error) {
	cfg := RuntimeConfig(opts.Interpreter)
	e := &Engine{epoch: time.Now()}
	if opts.CacheDir != "" {
		if err := os.MkdirAll(opts.CacheDir, 0o755); err != nil {
			return nil, fmt.Errorf("compilation cache %s: %w", opts.CacheDir, err)
		}
		cache, err := wazero.NewCompilationCacheWithDir(opts.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("compilation cache %s: %w", opts.CacheDir, err)
		}
		e.cache = cache
		cfg = cfg.WithCompilationCache(cache)
	}
	e.rt = wazero.NewRuntimeWithConfig(ctx, cfg)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, e.rt); err != nil {
		_ = e.Close(ctx)
		return nil, fmt.Errorf("instantiate WASI: %w", err)
	}
	if err := hostfuncs.Register(ctx, e.rt); err != nil {
		_ = e.Close(ctx)
		return nil, err
	}
	if err := preempt.Register(ctx, e.rt); err != nil {
		_ = e.Close(ctx)
		return nil, err
	}
	return e, nil
}

// Epoch is when the engine started: the zero of clock-monotonic-ns.
func (e *Engine) Epoch() time.Time { return e.epoch }

// Close releases the runtime, every module compiled by it and the cache handle.
func (e *Engine) Close(ctx context.Context) error {
	err := e.rt.Close(ctx)
	if e.cache != nil {
		err = errors.Join(err, e.cache.Close(ctx))
	}
	return err
}

// Instantiate creates an instance of m with cfg. ctx carries the instance's host state
// (hostfuncs.WithInstance) and memory allocator; cancelling it closes the instance.
func (e *Engine) Instantiate(ctx context.Context, m *Module, cfg wazero.ModuleConfig) (api.Module, error) {
	return e.rt.InstantiateModule(ctx, m.compiled, cfg)
}

// Entry says how a capsule's guest code runs.
type Entry int

// Entry kinds.
const (
	// EntryNone is a reactor without a run loop: it is instantiated and only called into.
	EntryNone Entry = iota
	// EntryRun is a run-loop capsule exporting "run".
	EntryRun
	// EntryStart is a WASI command: "_start" is its run loop.
	EntryStart
)

// Module is a compiled, validated capsule module, shared by all its instances and restarts.
type Module struct {
	compiled    wazero.CompiledModule
	entry       Entry
	initialize  bool
	minPages    uint32
	hasHook     bool
	hasRealloc  bool
	sha256      string
	imports     []string
	sizeInBytes int
}

// Entry returns how the module runs.
func (m *Module) Entry() Entry { return m.entry }

// Initialize reports whether the module exports _initialize, called before its entry point.
func (m *Module) Initialize() bool { return m.initialize }

// MinPages is the number of memory pages the module needs at start.
func (m *Module) MinPages() uint32 { return m.minPages }

// SHA256 is the hex digest of the wasm bytes.
func (m *Module) SHA256() string { return m.sha256 }

// Imports lists the module's imports as "module.name".
func (m *Module) Imports() []string { return append([]string(nil), m.imports...) }

// ImportsKV reports whether the module imports astrid:kv@1.0.0.
func (m *Module) ImportsKV() bool {
	for _, imp := range m.imports {
		if strings.HasPrefix(imp, abi.ModuleKV+".") {
			return true
		}
	}
	return false
}

// Exports lists the module's exported function names.
func (m *Module) Exports() []string {
	var out []string
	for name := range m.compiled.ExportedFunctions() {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// Memory returns the exported memory's initial pages and its declared maximum (ok false when
// the module declares none; the capsule's limit then applies).
func (m *Module) Memory() (minPages uint32, maxPages uint32, ok bool) {
	mem := m.compiled.ExportedMemories()["memory"]
	maxPages, ok = mem.Max()
	return mem.Min(), maxPages, ok
}

// Size is the size of the wasm binary in bytes.
func (m *Module) Size() int { return m.sizeInBytes }

// HasInterceptorExports reports whether the module exports astrid-hook-trigger and
// cabi_realloc, which interceptors need.
func (m *Module) HasInterceptorExports() bool { return m.hasHook && m.hasRealloc }

// Compile instruments, validates and compiles wasm. It fails with ErrInvalidModule when the
// bytes are not a core module, when an import is not provided by this runtime
// (astrid:ipc@1.0.0, astrid:sys@1.0.0, astrid:kv@1.0.0, wasi_snapshot_preview1) or has the
// wrong signature, when it imports from the reserved module astrid:preempt, when the module
// does not export its memory as "memory", or when it needs more than MaxMemoryPages at start.
// What is compiled is the instrumented module (Instrument); sizes, digests and imports are
// the guest's own.
func (e *Engine) Compile(ctx context.Context, wasm []byte) (*Module, error) {
	sum := sha256.Sum256(wasm)
	inst, err := Instrument(wasm)
	if err != nil {
		if errors.Is(err, preempt.ErrNotModule) {
			// wazero's verdict on the header is the familiar one ("invalid magic number");
			// it stops there, before decoding anything.
			if _, cerr := e.rt.CompileModule(ctx, wasm); cerr != nil {
				return nil, fmt.Errorf("%w: compile: %w", ErrInvalidModule, cerr)
			}
		}
		// Bytes the instrumentation cannot decode are not handed to wazero: its decoder
		// allocates by declared counts, and the module would not compile anyway.
		return nil, fmt.Errorf("%w: compile: %w", ErrInvalidModule, err)
	}
	compiled, err := e.rt.CompileModule(ctx, inst)
	if err != nil {
		return nil, fmt.Errorf("%w: compile: %w", ErrInvalidModule, err)
	}
	m := &Module{compiled: compiled, sha256: hex.EncodeToString(sum[:]), sizeInBytes: len(wasm)}
	if err := m.validate(e.rt.Module(wasiModule).ExportedFunctionDefinitions()); err != nil {
		_ = compiled.Close(ctx)
		return nil, err
	}
	return m, nil
}

// validate applies the runtime's one module check (internal/modcheck, shared with inspect
// and validate) and keeps what the engine needs of its report.
func (m *Module) validate(wasi map[string]api.FunctionDefinition) error {
	rep := modcheck.CheckInstrumented(m.compiled, wasi, MaxMemoryPages)
	for _, imp := range rep.Imports {
		m.imports = append(m.imports, imp.Module+"."+imp.Name)
	}
	if len(rep.Problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidModule, rep.Problems[0])
	}
	m.minPages = rep.MinPages
	switch rep.Entry {
	case modcheck.EntryRun:
		m.entry = EntryRun
	case modcheck.EntryStart:
		m.entry = EntryStart
	}
	m.initialize, m.hasHook, m.hasRealloc = rep.Initialize, rep.HookTrigger, rep.Realloc
	return nil
}

// Instrument is what Compile does to a guest before wazero compiles it: the countdown of
// internal/preempt (preempt.Budget function entries and loop headers between two calls of
// astrid:preempt.check), which keeps the guest stoppable and preemptible by the Go scheduler.
// The precompile helper and the benchmarks use it to compile exactly what the engine does.
func Instrument(wasm []byte) ([]byte, error) { return preempt.Instrument(wasm) }
