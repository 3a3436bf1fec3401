package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeFile creates path (and its parents) with content.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("symlinks unavailable: %v", err)
	}
}

// capsuleTOML returns a valid manifest named name whose component is file, plus extra.
func capsuleTOML(name, file, extra string) string {
	return "[package]\nname = \"" + name + "\"\nversion = \"1.0.0\"\n\n[[component]]\nid = \"main\"\nfile = \"" +
		file + "\"\n" + extra
}

func sha(content string) string {
	s := sha256.Sum256([]byte(content))
	return "sha256:" + hex.EncodeToString(s[:])
}

func TestLoadComponentFile(t *testing.T) {
	type setup func(t *testing.T, root, dir string)
	cases := []struct {
		name     string
		file     string
		setup    setup
		wantErr  string // "" = Load succeeds
		wantPath string // WasmPath result relative to the resolved root, when Load succeeds
	}{
		{name: "regular file", file: "x.wasm", setup: func(t *testing.T, root, dir string) {
			writeFile(t, filepath.Join(dir, "x.wasm"), "wasm")
		}, wantPath: "cap/x.wasm"},
		{name: "nested file", file: "bin/x.wasm", setup: func(t *testing.T, root, dir string) {
			writeFile(t, filepath.Join(dir, "bin", "x.wasm"), "wasm")
		}, wantPath: "cap/bin/x.wasm"},
		{name: "symlink inside", file: "x.wasm", setup: func(t *testing.T, root, dir string) {
			writeFile(t, filepath.Join(dir, "build", "real.wasm"), "wasm")
			symlink(t, "build/real.wasm", filepath.Join(dir, "x.wasm"))
		}, wantPath: "cap/build/real.wasm"},
		{name: "symlink escape", file: "x.wasm", setup: func(t *testing.T, root, dir string) {
			writeFile(t, filepath.Join(root, "outside.wasm"), "wasm")
			symlink(t, "../outside.wasm", filepath.Join(dir, "x.wasm"))
		}, wantErr: `[[component]] #1 file: "x.wasm" resolves to`},
		{name: "absolute symlink escape", file: "x.wasm", setup: func(t *testing.T, root, dir string) {
			writeFile(t, filepath.Join(root, "outside.wasm"), "wasm")
			symlink(t, filepath.Join(root, "outside.wasm"), filepath.Join(dir, "x.wasm"))
		}, wantErr: "outside the capsule directory"},
		{name: "symlinked directory escape", file: "bin/x.wasm", setup: func(t *testing.T, root, dir string) {
			writeFile(t, filepath.Join(root, "elsewhere", "x.wasm"), "wasm")
			symlink(t, "../elsewhere", filepath.Join(dir, "bin"))
		}, wantErr: "outside the capsule directory"},
		{name: "dangling symlink", file: "x.wasm", setup: func(t *testing.T, root, dir string) {
			symlink(t, "../nowhere.wasm", filepath.Join(dir, "x.wasm"))
		}, wantErr: `[[component]] #1 file: "x.wasm" does not exist`},
		{name: "directory", file: "x.wasm", setup: func(t *testing.T, root, dir string) {
			if err := os.MkdirAll(filepath.Join(dir, "x.wasm"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, wantErr: `"x.wasm" is not a regular file`},
		{name: "missing file is an error", file: "x.wasm", setup: func(t *testing.T, root, dir string) {},
			wantErr: `[[component]] #1 file: "x.wasm" does not exist (no file `},
		{name: "dotdot escape", file: "../outside.wasm", setup: func(t *testing.T, root, dir string) {
			writeFile(t, filepath.Join(root, "outside.wasm"), "wasm")
		}, wantErr: `"../outside.wasm" escapes the capsule directory`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "cap")
			path := filepath.Join(dir, FileName)
			writeFile(t, path, capsuleTOML("c", tc.file, ""))
			tc.setup(t, root, dir)
			m, err := Load(path)
			if tc.wantErr != "" {
				checkErrors(t, err, path, []string{tc.wantErr})
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			checkWarnings(t, m.Warnings, path, nil)
			got, err := m.WasmPath()
			if err != nil {
				t.Fatalf("WasmPath: %v", err)
			}
			realRoot, _ := filepath.EvalSymlinks(root)
			if want := filepath.Join(realRoot, filepath.FromSlash(tc.wantPath)); got != want {
				t.Errorf("WasmPath = %q, want %q", got, want)
			}
		})
	}
}

func TestWasmPathSymlinkedCapsuleDir(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "real", FileName), capsuleTOML("c", "x.wasm", ""))
	writeFile(t, filepath.Join(root, "real", "x.wasm"), "wasm")
	symlink(t, "real", filepath.Join(root, "link"))
	m, err := Load(filepath.Join(root, "link", FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.WasmPath(); err != nil {
		t.Errorf("WasmPath through a symlinked capsule dir: %v", err)
	}
}

// TestWasmPathChecksAtCallTime swaps the component file for an escaping symlink after Load.
func TestWasmPathChecksAtCallTime(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "cap")
	writeFile(t, filepath.Join(dir, FileName), capsuleTOML("c", "x.wasm", ""))
	writeFile(t, filepath.Join(dir, "x.wasm"), "wasm")
	writeFile(t, filepath.Join(root, "evil.wasm"), "evil")
	m, err := Load(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "x.wasm")); err != nil {
		t.Fatal(err)
	}
	symlink(t, "../evil.wasm", filepath.Join(dir, "x.wasm"))
	if _, err := m.WasmPath(); err == nil || !strings.Contains(err.Error(), "outside the capsule directory") {
		t.Errorf("WasmPath = %v", err)
	}
	if _, err := m.ReadWasm(); err == nil || !strings.Contains(err.Error(), "outside the capsule directory") {
		t.Errorf("ReadWasm = %v", err)
	}
}

// TestWasmPathHandBuilt checks WasmPath on manifests that did not come from Parse.
func TestWasmPathHandBuilt(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		m    *Manifest
		want string
	}{
		{"no component", &Manifest{Path: "/p", Dir: dir}, "/p: [[component]]: no [[component]] declared"},
		{"absolute", &Manifest{Path: "/p", Dir: dir, Components: []Component{{File: "/etc/passwd"}}}, "is an absolute path"},
		{"dotdot", &Manifest{Path: "/p", Dir: dir, Components: []Component{{File: "../../etc/passwd"}}}, "escapes the capsule directory"},
		{"empty", &Manifest{Path: "/p", Dir: dir, Components: []Component{{File: ""}}}, "empty path"},
		{"missing dir", &Manifest{Path: "/p", Dir: filepath.Join(dir, "nope"), Components: []Component{{File: "x.wasm"}}}, "cannot resolve the capsule directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.m.WasmPath(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("WasmPath = %v, want %q", err, tc.want)
			}
			if _, err := tc.m.ReadWasm(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ReadWasm = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestReadWasmHash(t *testing.T) {
	const content = "\x00asm\x01\x00\x00\x00"
	other := sha("something else")
	for _, tc := range []struct {
		name, hash, wantErr string
	}{
		{name: "no hash", hash: ""},
		{name: "hash ok", hash: sha(content)},
		{name: "hash ok uppercase", hash: "sha256:" + strings.ToUpper(strings.TrimPrefix(sha(content), "sha256:"))},
		{name: "hash mismatch", hash: other,
			wantErr: `[[component]] #1 hash: "x.wasm" does not match: expected ` + other + ", actual " + sha(content)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, FileName)
			extra := ""
			if tc.hash != "" {
				extra = "hash = \"" + tc.hash + "\"\n"
			}
			writeFile(t, path, capsuleTOML("c", "x.wasm", extra))
			writeFile(t, filepath.Join(dir, "x.wasm"), content)
			m, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			data, err := m.ReadWasm()
			if tc.wantErr != "" {
				checkErrors(t, err, path, []string{tc.wantErr})
				if data != nil {
					t.Errorf("ReadWasm returned data with an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(data, []byte(content)) {
				t.Errorf("data = %q", data)
			}
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "nope", FileName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v", err)
	}
	big := filepath.Join(dir, "big", FileName)
	writeFile(t, big, head+"# "+strings.Repeat("x", MaxManifestBytes)+"\n")
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "manifest is larger than 1048576 bytes") {
		t.Errorf("Load(big) = %v", err)
	}
	ok := filepath.Join(dir, "ok", FileName)
	writeFile(t, filepath.Join(dir, "ok", "x.wasm"), "wasm")
	body := head + "# "
	writeFile(t, ok, body+strings.Repeat("x", MaxManifestBytes-len(body)-1)+"\n")
	if _, err := Load(ok); err != nil {
		t.Errorf("Load(exactly MaxManifestBytes) = %v", err)
	}
}

// TestMissingComponentNamesPath: a missing component file is an error of Load (so of
// Discover, validate and the runtime's Load), naming the file's full path.
func TestMissingComponentNamesPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cap")
	path := filepath.Join(dir, FileName)
	writeFile(t, path, capsuleTOML("c", "bin/x.wasm", ""))
	m, err := Load(path)
	checkErrors(t, err, path, []string{`[[component]] #1 file: "bin/x.wasm" does not exist (no file ` + filepath.Join(dir, "bin", "x.wasm") + ")"})
	if m != nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load = %v, %v: want no manifest and an error wrapping fs.ErrNotExist", m, err)
	}
	ms, _, errs := Discover(filepath.Dir(dir))
	if len(ms) != 0 || len(errs) != 1 || !strings.Contains(errs[0].Error(), filepath.Join(dir, "bin", "x.wasm")) {
		t.Errorf("Discover = %v, %v", names(ms), errs)
	}
}
