package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
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
		return "", &Error{Path: m.Path, Key: componentKey, Err: fs.ErrNotExist,
			Problem: fmt.Sprintf("%q does not exist (no file %s)", file, filepath.Join(m.Dir, filepath.FromSlash(file)))}
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

// DefaultModuleBytes is the largest component file ReadWasm reads when [limits] module_bytes
// is not set (64 MiB): the largest real capsule modules are a few MiB.
const DefaultModuleBytes = 64 << 20

// MaxModuleBytes is the largest [limits] module_bytes a manifest may set (1 GiB).
const MaxModuleBytes = 1 << 30

// ErrModuleTooLarge is wrapped by the error of a module file larger than its limit.
var ErrModuleTooLarge = errors.New("module file too large")

// ModuleLimit returns the largest component file this capsule may have: [limits]
// module_bytes, or DefaultModuleBytes when it is not set.
func (m *Manifest) ModuleLimit() int64 {
	if m.Limits.ModuleBytes > 0 {
		return m.Limits.ModuleBytes
	}
	return DefaultModuleBytes
}

// ReadModule reads the WebAssembly module file at path, at most limit bytes
// (DefaultModuleBytes when limit <= 0). The file is opened without blocking and checked with a
// stat of the open file before anything is read: anything but a regular file, and a file
// larger than limit, is refused without reading it (a 2 GiB sparse file costs nothing). A file
// that grows past limit while it is read is refused too. Every path that reads a module
// (ReadWasm, so Load and validate; the inspect command) goes through this check.
func ReadModule(path string, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultModuleBytes
	}
	f, fi, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s: %w: %d bytes, the limit is %d", path, ErrModuleTooLarge, fi.Size(), limit)
	}
	data := make([]byte, 0, fi.Size()+1) // +1: the read that finds EOF needs no new allocation
	data, err = readAllInto(io.LimitReader(f, limit+1), data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: %w: it grew past the limit of %d bytes while it was read", path, ErrModuleTooLarge, limit)
	}
	return data, nil
}

// readAllInto is io.ReadAll appending to data, so that a buffer sized from a stat is used.
func readAllInto(r io.Reader, data []byte) ([]byte, error) {
	for {
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
		n, err := r.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			return data, err
		}
	}
}

// openRegular opens path for reading without blocking (a FIFO or a device would otherwise
// stall the caller, e.g. discovery of every other capsule) and refuses anything but a
// regular file. It returns the open file and its stat.
func openRegular(path string) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|openNonBlock, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s: not a regular file (%v)", path, fi.Mode().Type())
	}
	return f, fi, nil
}

// ReadWasm reads the first component's .wasm file (located and checked by WasmPath, read by
// ReadModule with the limit ModuleLimit) and, when the component has a hash, verifies it: a
// mismatch is an error naming the expected and the actual digest.
func (m *Manifest) ReadWasm() ([]byte, error) {
	path, err := m.WasmPath()
	if err != nil {
		return nil, err
	}
	data, err := ReadModule(path, m.ModuleLimit())
	if err != nil {
		problem := err.Error()
		if errors.Is(err, ErrModuleTooLarge) {
			problem += " (raise it with [limits] module_bytes)"
		}
		return nil, &Error{Path: m.Path, Key: componentKey, Problem: problem, Err: err}
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
