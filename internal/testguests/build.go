// Package testguests builds the repository's Go guest capsules (the example capsules, the probe
// test capsule) into WebAssembly for integration tests, so the tests run exactly the code in the
// tree rather than committed binaries.
//
// A guest is built with the Go toolchain running the tests:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o <tmp>/<name>.wasm ./<pkg>
//
// at most once per test binary and package; later calls return the same bytes. The go command's
// build cache makes a rebuild of an unchanged guest cost about half a second (the link). Builds
// are serialised across the test binaries of one `go test ./...` by a lock file, so the first
// one compiles the wasip1 standard library and the others find it in the build cache.
//
// Every test binary compiles wasm into one wazero compilation cache, [CacheDir]. When the
// tests run with -race, Build also fills that cache with the guest's machine code compiled by
// a helper built without -race (./precompile): wazero's compiler instrumented by the race
// detector takes about 20 s of CPU for one Go guest instead of 3 s, and the machine code it
// produces is the same. A slow build or precompile is reported on stderr as it happens.
package testguests

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/astrid-actors/astrid-actors/internal/preempt"
)

// CacheDir is the wazero compilation cache shared by every test binary of the module and
// across runs: $TMPDIR/astrid-actors-test-cache. Tests pass it as EngineOptions.CacheDir.
func CacheDir() string { return filepath.Join(os.TempDir(), "astrid-actors-test-cache") }

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
	b.once.Do(func() {
		b.wasm, b.err = buildLocked(clean)
		if b.err == nil && raceEnabled {
			b.err = precompile(CacheDir(), path.Base(clean), WazeroVersion(), b.wasm)
		}
	})
	if b.err != nil {
		tb.Fatalf("testguests: %v", b.err)
	}
	return b.wasm
}

// Precompile compiles wasm into the wazero compilation cache dir with the helper built
// without -race, for this process's wazero version, unless a marker in dir says it was done
// before. Build calls it for CacheDir when the tests run with -race.
func Precompile(tb testing.TB, dir string, wasm []byte) {
	tb.Helper()
	PrecompileFor(tb, dir, WazeroVersion(), wasm)
}

// PrecompileFor is Precompile for a binary that reports wazero version (one built with
// VersionLDFlag(version)).
func PrecompileFor(tb testing.TB, dir, version string, wasm []byte) {
	tb.Helper()
	sum := sha256.Sum256(wasm)
	if err := precompile(dir, "module "+hex.EncodeToString(sum[:4]), version, wasm); err != nil {
		tb.Fatalf("testguests: %v", err)
	}
}

// slowAfter is how long a build or precompile runs before it is reported on stderr.
const slowAfter = 3 * time.Second

// progress reports a step on stderr if it is still running after slowAfter, and its duration
// when it ends after that; the returned function ends the step.
func progress(what, why string) (done func()) {
	start := time.Now()
	t := time.AfterFunc(slowAfter, func() {
		fmt.Fprintf(os.Stderr, "testguests: %s... (%s)\n", what, why)
	})
	return func() {
		if !t.Stop() {
			fmt.Fprintf(os.Stderr, "testguests: %s: done in %v\n", what, time.Since(start).Round(100*time.Millisecond))
		}
	}
}

// buildLocked builds pkg holding the cross-process build lock.
func buildLocked(pkg string) ([]byte, error) {
	if err := os.MkdirAll(CacheDir(), 0o755); err != nil {
		return nil, fmt.Errorf("test cache: %w", err)
	}
	unlock, err := lockFile(filepath.Join(CacheDir(), "build.lock"))
	if err != nil {
		return nil, fmt.Errorf("lock the guest builds: %w", err)
	}
	defer unlock()
	defer progress("building ./"+pkg+" with GOOS=wasip1 GOARCH=wasm",
		"the first build compiles the Go standard library for wasip1, about a minute on 2 cores")()
	return buildWasm(pkg)
}

// wazeroVersionVar is the variable wazero reads its version from before its build info.
const wazeroVersionVar = "github.com/tetratelabs/wazero/internal/version.version"

// WazeroVersion is the wazero version this process reports, as wazero's internal/version
// computes it: the module version from the build info, or "dev" where a test binary has none.
// wazero names its cache directory after it and rejects entries of another version.
func WazeroVersion() string {
	v := ""
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if strings.Contains(dep.Path, "github.com/tetratelabs/wazero") {
				v = dep.Version
			}
		}
		if v == "" || v == "(devel)" {
			v = info.Main.Version
		}
	}
	if v == "" || v == "(devel)" {
		v = "dev"
	}
	return v
}

// VersionLDFlag is the -ldflags value that makes a binary built by the tests (the precompile
// helper, the command under test) report wazero version, so that processes of a test run use
// the same entries of the compilation cache.
func VersionLDFlag(version string) string { return "-X=" + wazeroVersionVar + "=" + version }

// helper is a precompile command, built once per process and wazero version.
type helper struct {
	once sync.Once
	path string
	err  error
}

var (
	helpersMu sync.Mutex
	helpers   = map[string]*helper{}
)

// precompile runs the helper on wasm for cache dir, once per module and dir across processes
// (a marker file named after the module's sha256 records that it was done).
func precompile(dir, name, version string, wasm []byte) error {
	sum := sha256.Sum256(wasm)
	// wazero keeps the code of each version apart (and the version differs between test
	// binaries: a main package's has module information, a library's reports "dev").
	id := hex.EncodeToString(sum[:]) + "-" + version + "-preempt" + preempt.Revision // what the engine compiles
	guests := filepath.Join(dir, "guests")
	marker := filepath.Join(guests, id+".compiled")
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	if err := os.MkdirAll(guests, 0o755); err != nil {
		return fmt.Errorf("precompile: %w", err)
	}
	unlock, err := lockFile(filepath.Join(guests, id+".lock"))
	if err != nil {
		return fmt.Errorf("precompile: %w", err)
	}
	defer unlock()
	if _, err := os.Stat(marker); err == nil {
		return nil // another test binary did it while we waited
	}
	helpersMu.Lock()
	h := helpers[version]
	if h == nil {
		h = &helper{}
		helpers[version] = h
	}
	helpersMu.Unlock()
	h.once.Do(func() { h.path, h.err = buildHelper(version) })
	if h.err != nil {
		return h.err
	}
	file := filepath.Join(guests, id+".wasm")
	if err := os.WriteFile(file, wasm, 0o644); err != nil {
		return fmt.Errorf("precompile: %w", err)
	}
	defer os.Remove(file)
	done := progress("compiling "+name+" with wazero into "+dir, "once per module; the cache is kept across runs")
	out, err := exec.Command(h.path, dir, file).CombinedOutput()
	done()
	if err != nil {
		return fmt.Errorf("precompile %s: %v\n%s", name, err, out)
	}
	return os.WriteFile(marker, nil, 0o644)
}

// buildHelper builds ./precompile without the race detector into CacheDir()/bin (replaced
// atomically, so concurrent test binaries each run a complete helper of their version).
func buildHelper(version string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	goBin, err := goCommand()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(CacheDir(), "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// One helper per wazero version: test binaries of one run may report different ones.
	final := filepath.Join(dir, "precompile-"+version)
	bin := fmt.Sprintf("%s.%d", final, os.Getpid())
	defer progress("building the precompile helper without -race", "once per run")()
	cmd := exec.Command(goBin, "build", "-race=false", "-ldflags="+VersionLDFlag(version), "-o", bin, "./internal/testguests/precompile")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=", "GOARCH=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./internal/testguests/precompile: %v\n%s", err, out)
	}
	if err := os.Rename(bin, final); err != nil {
		return "", err
	}
	return final, nil
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
