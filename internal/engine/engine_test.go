package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"go.uber.org/goleak"

	"github.com/astrid-actors/astrid-actors/internal/leakcheck"
	"github.com/astrid-actors/astrid-actors/internal/preempt"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakcheck.Options()...)
}

func newEngine(t *testing.T) *Engine {
	t.Helper()
	e, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return e
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "wat", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Compile keeps what the capsule actor needs of a module (entry, _initialize, interceptor
// exports, imports) and refuses wasm that cannot run as a capsule with ErrInvalidModule.
func TestCompile(t *testing.T) {
	e := newEngine(t)
	for _, tc := range []struct {
		file      string
		entry     Entry
		intercept bool
		imports   string // one import it must list
		invalid   bool
	}{
		{file: "echo.wasm", entry: EntryRun, imports: "astrid:ipc@1.0.0.subscribe"},
		{file: "intercept.wasm", entry: EntryNone, intercept: true, imports: "astrid:ipc@1.0.0.publish"},
		{file: "kvcalls.wasm", entry: EntryNone},
		{file: "badimport.wasm", invalid: true},
		{file: "badwasi.wasm", invalid: true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			wasm := fixture(t, tc.file)
			m, err := e.Compile(context.Background(), wasm)
			if tc.invalid {
				if !errors.Is(err, ErrInvalidModule) {
					t.Fatalf("Compile = %v, want ErrInvalidModule", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Entry() != tc.entry || m.HasInterceptorExports() != tc.intercept || m.Size() != len(wasm) || len(m.SHA256()) != 64 {
				t.Errorf("entry %v, interceptor exports %v, size %d, sha256 %q", m.Entry(), m.HasInterceptorExports(), m.Size(), m.SHA256())
			}
			if tc.imports != "" && !slices.Contains(m.Imports(), tc.imports) {
				t.Errorf("imports %v lack %s", m.Imports(), tc.imports)
			}
			if m.ImportsKV() != (tc.file == "kvcalls.wasm") {
				t.Errorf("ImportsKV = %v", m.ImportsKV())
			}
			if min, _, _ := m.Memory(); min != m.MinPages() || min == 0 {
				t.Errorf("memory min %d, MinPages %d", min, m.MinPages())
			}
		})
	}
	if _, err := e.Compile(context.Background(), []byte("not wasm")); !errors.Is(err, ErrInvalidModule) {
		t.Errorf("Compile(garbage) = %v, want ErrInvalidModule", err)
	}
}

// An instance's memory grows up to its own limit and no further; Release frees what Free did
// not.
func TestInstanceMemoryLimit(t *testing.T) {
	const limit = 4 * PageSize
	a := NewInstanceMemory(limit)
	m := a.Allocate(PageSize, 16*PageSize)
	buf := m.Reallocate(PageSize)
	if len(buf) != PageSize {
		t.Fatalf("first page: %d bytes", len(buf))
	}
	buf[0] = 7
	grown := m.Reallocate(limit)
	if len(grown) != limit || grown[0] != 7 {
		t.Fatalf("grow to the limit: %d bytes, first byte %d", len(grown), grown[0])
	}
	if over := m.Reallocate(limit + PageSize); over != nil {
		t.Fatalf("grow past the limit returned %d bytes, want nil", len(over))
	}
	a.Release()
	if again := m.Reallocate(PageSize); len(again) != PageSize || again[0] != 0 {
		t.Fatalf("after Release a new memory starts zeroed: %d bytes, first byte %d", len(again), again[0])
	}
	m.Free()
}

// A guest importing from astrid:preempt, the module the engine's instrumentation adds, is
// refused with a clear error.
func TestCompileRefusesTheReservedImport(t *testing.T) {
	e := newEngine(t)
	wasm, err := os.ReadFile(filepath.Join("..", "preempt", "testdata", "reserved.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Compile(context.Background(), wasm)
	if !errors.Is(err, ErrInvalidModule) || !errors.Is(err, preempt.ErrReserved) {
		t.Fatalf("Compile = %v, want ErrInvalidModule and preempt.ErrReserved", err)
	}
}

// A module declaring more entries than its section has bytes (here 3·10⁹ imports in 33 bytes,
// found by preempt's fuzz test: wazero's decoder allocates by the count and runs the process
// out of memory) is refused before wazero sees it.
func TestCompileRefusesImplausibleCounts(t *testing.T) {
	e := newEngine(t)
	wasm := []byte("\x00asm\x01\x00\x00\x00\x02!\xc7\xc7\xc7\xc7\x03\x01\x01\x05\x03\x01\x00\x01\a\x10\x02\x06memory\x02\x00\x03run\x00\x01\n\x0f\x01\r\x00\x10\x00\x1aA\xc0\x84=(\x02\x00\x1ao")
	_, err := e.Compile(context.Background(), wasm)
	if !errors.Is(err, ErrInvalidModule) || !errors.Is(err, preempt.ErrMalformed) {
		t.Fatalf("Compile = %v, want ErrInvalidModule and preempt.ErrMalformed", err)
	}
	t.Log(err)
}
