package actors

import (
	"context"

	"github.com/astrid-actors/astrid-actors/internal/engine"
)

// Memory limits of capsule instances, in 64 KiB wasm pages.
const (
	// DefaultMemoryPages is the default memory limit of one capsule instance (64 MiB).
	DefaultMemoryPages = 1024
	// MaxMemoryPages is the highest per-capsule limit the engine accepts (1 GiB).
	MaxMemoryPages = engine.MaxMemoryPages
)

// pageSize is the size of one wasm page in bytes.
const pageSize = engine.PageSize

// ErrInvalidModule is returned (wrapped) for wasm that cannot run as a capsule.
var ErrInvalidModule = engine.ErrInvalidModule

// Engine is the process-wide wazero runtime: compiler mode, guests preemptible through their
// context, an optional on-disk compilation cache, WASI and the host modules registered once.
// Modules must be compiled and instantiated by the same Engine. A Runtime makes its own
// (Runtime.Engine); NewEngine is for checking modules without running them.
type Engine struct{ e *engine.Engine }

// EngineOptions configure an Engine.
type EngineOptions struct {
	// CacheDir, when set, holds compiled machine code across processes, so a restart of the
	// runtime does not recompile unchanged modules. It is created if missing.
	CacheDir string
	// Interpreter selects wazero's interpreter instead of the compiler (for platforms without
	// the compiler; much slower).
	Interpreter bool
}

// NewEngine creates the shared wazero runtime.
func NewEngine(ctx context.Context, opts EngineOptions) (*Engine, error) {
	e, err := engine.New(ctx, engine.Options{CacheDir: opts.CacheDir, Interpreter: opts.Interpreter})
	if err != nil {
		return nil, err
	}
	return &Engine{e: e}, nil
}

// Close releases the runtime, every module compiled by it and the cache handle.
func (e *Engine) Close(ctx context.Context) error { return e.e.Close(ctx) }

// Compile validates and compiles wasm. It fails with ErrInvalidModule when the bytes are not a
// core module, when an import is not provided by this runtime (astrid:ipc@1.0.0,
// astrid:sys@1.0.0, astrid:kv@1.0.0, wasi_snapshot_preview1) or has the wrong signature, when
// the module does not export its memory as "memory", or when it needs more than MaxMemoryPages
// at start.
func (e *Engine) Compile(ctx context.Context, wasm []byte) (*Module, error) {
	m, err := e.e.Compile(ctx, wasm)
	if err != nil {
		return nil, err
	}
	return &Module{m: m}, nil
}

// EntryKind says how a capsule's guest code runs.
type EntryKind int

// Entry kinds.
const (
	// EntryNone is a reactor without a run loop: it is instantiated and only called into.
	EntryNone EntryKind = iota
	// EntryRun is a run-loop capsule exporting "run".
	EntryRun
	// EntryStart is a WASI command: "_start" is its run loop.
	EntryStart
)

// Module is a compiled, validated capsule module, shared by all its instances and restarts.
type Module struct{ m *engine.Module }

// Entry returns how the module runs.
func (m *Module) Entry() EntryKind {
	switch m.m.Entry() {
	case engine.EntryRun:
		return EntryRun
	case engine.EntryStart:
		return EntryStart
	}
	return EntryNone
}

// SHA256 is the hex digest of the wasm bytes.
func (m *Module) SHA256() string { return m.m.SHA256() }

// Imports lists the module's imports as "module.name".
func (m *Module) Imports() []string { return m.m.Imports() }

// ImportsKV reports whether the module imports astrid:kv@1.0.0.
func (m *Module) ImportsKV() bool { return m.m.ImportsKV() }

// Exports lists the module's exported function names.
func (m *Module) Exports() []string { return m.m.Exports() }

// Memory returns the exported memory's initial pages and its declared maximum (ok false when
// the module declares none; the capsule's limit then applies).
func (m *Module) Memory() (minPages uint32, maxPages uint32, ok bool) { return m.m.Memory() }

// Size is the size of the wasm binary in bytes.
func (m *Module) Size() int { return m.m.Size() }

// HasInterceptorExports reports whether the module exports astrid-hook-trigger and
// cabi_realloc, which interceptors need.
func (m *Module) HasInterceptorExports() bool { return m.m.HasInterceptorExports() }
