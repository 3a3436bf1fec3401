package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// sparseFile creates path as a sparse file of size bytes (no data blocks are written).
func sparseFile(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Skipf("cannot create a %d-byte sparse file: %v", size, err)
	}
}

// TestReadModuleRefusesLargeFileBeforeReading: a 2 GiB sparse .wasm (issue 11: 2.1 GB RSS,
// 5.7 s) is refused by the stat, with almost nothing allocated.
func TestReadModuleRefusesLargeFileBeforeReading(t *testing.T) {
	path := filepath.Join(t.TempDir(), "huge.wasm")
	sparseFile(t, path, 2<<30)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	data, err := ReadModule(path, 0)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrModuleTooLarge) || data != nil {
		t.Fatalf("ReadModule = %d bytes, %v; want ErrModuleTooLarge", len(data), err)
	}
	if want := "2147483648 bytes, the limit is 67108864"; !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the path and %q", err, want)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<10 {
		t.Errorf("ReadModule allocated %d bytes refusing the file, want < 64 KiB", alloc)
	}
}

func TestReadModuleLimit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.wasm")
	writeFile(t, path, strings.Repeat("x", 100))
	for _, tc := range []struct {
		limit   int64
		wantErr string
	}{
		{limit: 100},
		{limit: 0},
		{limit: 99, wantErr: "module file too large: 100 bytes, the limit is 99"},
	} {
		data, err := ReadModule(path, tc.limit)
		switch {
		case tc.wantErr == "" && (err != nil || len(data) != 100):
			t.Errorf("ReadModule(limit %d) = %d bytes, %v", tc.limit, len(data), err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("ReadModule(limit %d) = %v, want %q", tc.limit, err, tc.wantErr)
		}
	}
	if _, err := ReadModule(dir, 0); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("ReadModule(dir) = %v", err)
	}
	if _, err := ReadModule(filepath.Join(dir, "missing.wasm"), 0); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadModule(missing) = %v", err)
	}
}

// TestReadWasmModuleLimit: ReadWasm (used by Load and validate) applies the default cap and
// [limits] module_bytes, and says how to raise it.
func TestReadWasmModuleLimit(t *testing.T) {
	for _, tc := range []struct {
		name, limits, wantErr string
		size                  int64
	}{
		{name: "default cap", size: DefaultModuleBytes + 1,
			wantErr: "module file too large: 67108865 bytes, the limit is 67108864 (raise it with [limits] module_bytes)"},
		{name: "lower limit", limits: "[limits]\nmodule_bytes = 1000\n", size: 1001, wantErr: "module file too large: 1001 bytes, the limit is 1000"},
		{name: "lower limit exactly", limits: "[limits]\nmodule_bytes = 1000\n", size: 1000},
		{name: "higher limit", limits: "[limits]\nmodule_bytes = 134217728\n", size: DefaultModuleBytes + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, FileName)
			writeFile(t, path, capsuleTOML("c", "x.wasm", tc.limits))
			sparseFile(t, filepath.Join(dir, "x.wasm"), tc.size)
			m, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			data, err := m.ReadWasm()
			if tc.wantErr == "" {
				if err != nil || int64(len(data)) != tc.size {
					t.Fatalf("ReadWasm = %d bytes, %v", len(data), err)
				}
				return
			}
			checkErrors(t, err, path, []string{"[[component]] #1 file: " + filepath.Join(dir, "x.wasm") + ": " + tc.wantErr})
			if !errors.Is(err, ErrModuleTooLarge) {
				t.Errorf("error %v does not wrap ErrModuleTooLarge", err)
			}
		})
	}
}

func TestLimitsModuleBytes(t *testing.T) {
	runParseCases(t, []parseCase{
		{name: "set", toml: head + "[limits]\nmodule_bytes = 4096\n", check: func(t *testing.T, m *Manifest) {
			if m.Limits.ModuleBytes != 4096 || m.ModuleLimit() != 4096 {
				t.Errorf("ModuleBytes = %d, ModuleLimit = %d", m.Limits.ModuleBytes, m.ModuleLimit())
			}
		}},
		{name: "default", toml: head, check: func(t *testing.T, m *Manifest) {
			if m.ModuleLimit() != DefaultModuleBytes {
				t.Errorf("ModuleLimit = %d", m.ModuleLimit())
			}
		}},
		{name: "too big", toml: head + "[limits]\nmodule_bytes = 1073741825\n", wantErr: []string{"[limits] module_bytes: 1073741825 is out of range: want 1..1073741824"}},
		{name: "zero", toml: head + "[limits]\nmodule_bytes = 0\n", wantErr: []string{"[limits] module_bytes: 0 is out of range"}},
		{name: "string", toml: head + "[limits]\nmodule_bytes = \"64MiB\"\n", wantErr: []string{"[limits] module_bytes: want an integer, got string"}},
	})
}
