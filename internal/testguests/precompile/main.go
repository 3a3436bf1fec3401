// Command precompile fills a wazero compilation cache with the machine code of WebAssembly
// modules as actors.NewEngine compiles them: instrumented by internal/preempt (the engine
// compiles the instrumented bytes, so those are the cache's key), with the engine's
// configuration (compiler, no WithCloseOnContextDone, the 16 384-page memory limit):
//
//	precompile CACHEDIR FILE.wasm...
//
// internal/testguests runs it, built without -race, for the Go guests of race-enabled tests:
// wazero's compiler instrumented by the race detector is about seven times slower, and the
// compiled code does not depend on how the compiler was built, so a race-enabled test
// process then finds every Go guest in the cache. TestPrecompileMatchesTheEngine checks that
// the runtime's engine hits these cache entries rather than compiling again.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/tetratelabs/wazero"

	"github.com/astrid-actors/astrid-actors/internal/preempt"
)

// maxMemoryPages is actors.MaxMemoryPages; the package is not imported to keep this helper
// quick to build (wazero and internal/preempt only).
const maxMemoryPages = 16384

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: precompile CACHEDIR FILE.wasm...")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "precompile:", err)
		os.Exit(1)
	}
}

func run(dir string, files []string) error {
	ctx := context.Background()
	cache, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		return fmt.Errorf("compilation cache %s: %w", dir, err)
	}
	defer cache.Close(ctx)
	cfg := wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(false).
		WithMemoryLimitPages(maxMemoryPages).WithCompilationCache(cache)
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	defer rt.Close(ctx)
	for _, f := range files {
		wasm, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		inst, err := preempt.Instrument(wasm)
		if err != nil {
			return fmt.Errorf("instrument %s: %w", f, err)
		}
		if _, err := rt.CompileModule(ctx, inst); err != nil {
			return fmt.Errorf("compile %s: %w", f, err)
		}
	}
	return nil
}
