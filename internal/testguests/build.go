// Package testguests builds the repository's Go guest capsules (the example capsules, the probe
// test capsule) into WebAssembly for integration tests, so the tests run exactly the code in the
// tree rather than committed binaries.
//
// A guest is built with the Go toolchain running the tests:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o <tmp>/<name>.wasm ./<pkg>
//
// at most once per test binary and package; later calls return the same bytes. The go command's
// build cache makes a rebuild of an unchanged guest cost about half a second (the link).
package testguests

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// build is the outcome of building one package, shared by every caller in the process.
type build struct {
	once sync.Once
	wasm []byte
	err  error
}

var (
	mu     sync.Mutex
	builds = map[string]*build{}
)

// Build returns the WebAssembly module of the Go guest package at pkg, a slash-separated path
// relative to the module root such as "testdata/guests/probe" or "examples/ping" (a leading
// "./" is allowed). The package is built for GOOS=wasip1 GOARCH=wasm with -buildmode=c-shared
// (a reactor exporting its //go:wasmexport functions, here "run") the first time it is asked
// for in this process; every later call, from any test, returns the same bytes, which the
// caller must not modify.
//
// On failure Build calls tb.Fatalf with the go command's output, and every later Build of the
// same package fails the same way without building again. Build may be called from parallel
// tests; concurrent requests for one package wait for a single build.
func Build(tb testing.TB, pkg string) []byte {
	tb.Helper()
	clean, err := cleanPkg(pkg)
	if err != nil {
		tb.Fatalf("testguests: %v", err)
	}
	mu.Lock()
	b := builds[clean]
	if b == nil {
		b = &build{}
		builds[clean] = b
	}
	mu.Unlock()
	b.once.Do(func() { b.wasm, b.err = buildWasm(clean) })
	if b.err != nil {
		tb.Fatalf("testguests: %v", b.err)
	}
	return b.wasm
}

// cleanPkg validates a module-relative package path and returns it without "./".
func cleanPkg(pkg string) (string, error) {
	p := path.Clean(strings.TrimPrefix(pkg, "./"))
	if pkg == "" || p == "." || path.IsAbs(p) || p == ".." || strings.HasPrefix(p, "../") ||
		strings.Contains(pkg, `\`) || filepath.IsAbs(pkg) {
		return "", fmt.Errorf("package %q: want a slash-separated path inside the module, such as \"examples/ping\"", pkg)
	}
	return p, nil
}

// buildWasm runs the go command for pkg into a fresh temporary directory, reads the module and
// removes the directory again.
func buildWasm(pkg string) ([]byte, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	goBin, err := goCommand()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "testguests-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, path.Base(pkg)+".wasm")
	cmd := exec.Command(goBin, "build", "-buildmode=c-shared", "-o", out, "./"+pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("GOOS=wasip1 GOARCH=wasm %s build -buildmode=c-shared ./%s (in %s): %v\n%s",
			goBin, pkg, root, err, output.Bytes())
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", pkg, err)
	}
	return wasm, nil
}

// moduleRoot is the directory holding go.mod: two levels above this source file, or else
// what `go env GOMOD` reports for the working directory.
func moduleRoot() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok {
		dir := filepath.Join(filepath.Dir(file), "..", "..")
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Clean(dir), nil
		}
	}
	goBin, err := goCommand()
	if err != nil {
		return "", err
	}
	out, err := exec.Command(goBin, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("cannot find the module root: not inside a Go module")
	}
	return filepath.Dir(gomod), nil
}

// goCommand is the go command of the toolchain that built the test binary when it is still
// installed (runtime.GOROOT), else the first go on PATH.
func goCommand() (string, error) {
	if root := runtime.GOROOT(); root != "" {
		bin := filepath.Join(root, "bin", "go")
		if runtime.GOOS == "windows" {
			bin += ".exe"
		}
		if fi, err := os.Stat(bin); err == nil && !fi.IsDir() {
			return bin, nil
		}
	}
	bin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("no go command: %w", err)
	}
	return bin, nil
}
