package testguests_test

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/astrid-actors/astrid-actors/actors"
	"github.com/astrid-actors/astrid-actors/internal/testguests"
)

// cacheEntries lists the wazero cache files under dir (not the testguests markers).
func cacheEntries(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !strings.Contains(p, string(filepath.Separator)+"guests"+string(filepath.Separator)) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestPrecompileMatchesTheEngine checks that the runtime's engine finds the helper's machine
// code in the cache: compiling after Precompile adds no cache entry. Should the helper's
// wazero configuration drift from actors.NewEngine's, the engine would compile (slowly, under
// -race) and store a second entry.
func TestPrecompileMatchesTheEngine(t *testing.T) {
	wasm := testguests.Build(t, "examples/pong")
	dir := t.TempDir()
	testguests.Precompile(t, dir, wasm)
	before := cacheEntries(t, dir)
	if len(before) == 0 {
		t.Fatal("Precompile wrote no cache entry")
	}
	ctx := context.Background()
	e, err := actors.NewEngine(ctx, actors.EngineOptions{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	if _, err := e.Compile(ctx, wasm); err != nil {
		t.Fatal(err)
	}
	if after := cacheEntries(t, dir); len(after) != len(before) {
		t.Fatalf("the engine compiled again: cache entries %v after precompile, %v after the engine's compile", before, after)
	}
	// A second Precompile is a no-op (the marker), even without the helper.
	testguests.Precompile(t, dir, wasm)
}
