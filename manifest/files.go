package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// componentKey names the file key of the first component in messages.
const componentKey = "[[component]] #1 file"

// WasmPath returns the symlink-resolved path of the first component's .wasm file. It checks,
// at call time, that the path is relative without ".." escape, that the file exists and is a
// regular file, and that after resolving symlinks it lies inside the symlink-resolved
// capsule directory Dir.
func (m *Manifest) WasmPath() (string, error) {
	if len(m.Components) == 0 {
		return "", &Error{Path: m.Path, Key: "[[component]]", Problem: "no [[component]] declared"}
	}
	file := m.Components[0].File
	fail := func(format string, args ...any) (string, error) {
		return "", &Error{Path: m.Path, Key: componentKey, Problem: fmt.Sprintf(format, args...)}
	}
	if err := localPath(file); err != nil {
		return fail("%v", err)
	}
	dir, err := filepath.EvalSymlinks(m.Dir)
	if err != nil {
		return fail("cannot resolve the capsule directory: %v", err)
	}
	real, err := filepath.EvalSymlinks(filepath.Join(m.Dir, filepath.FromSlash(file)))
	if errors.Is(err, fs.ErrNotExist) {
		return fail("%q does not exist", file)
	}
	if err != nil {
		return fail("cannot resolve %q: %v", file, err)
	}
	if rel, err := filepath.Rel(dir, real); err != nil || !filepath.IsLocal(rel) {
		return fail("%q resolves to %s, outside the capsule directory %s", file, real, dir)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return fail("%v", err)
	}
	if !fi.Mode().IsRegular() {
		return fail("%q is not a regular file", file)
	}
	return real, nil
}

// ReadWasm reads the first component's .wasm file (located and checked by WasmPath) and, when
// the component has a hash, verifies it: a mismatch is an error naming the expected and the
// actual digest.
func (m *Manifest) ReadWasm() ([]byte, error) {
	path, err := m.WasmPath()
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Path: m.Path, Key: componentKey, Problem: err.Error()}
	}
	if want := m.Components[0].Hash; want != "" {
		sum := sha256.Sum256(data)
		got := "sha256:" + hex.EncodeToString(sum[:])
		if !strings.EqualFold(got, want) {
			return nil, &Error{Path: m.Path, Key: "[[component]] #1 hash",
				Problem: fmt.Sprintf("%q does not match: expected %s, actual %s", m.Components[0].File, strings.ToLower(want), got)}
		}
	}
	return data, nil
}
