package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/astrid-actors/astrid-actors/internal/testguests"
	"github.com/astrid-actors/astrid-actors/manifest"
)

// raceEnabled is set by race_test.go when the tests run with -race; the binary under test is
// then built with -race too, so that data races in the command fail the tests (a race makes
// the binary exit 66).
var raceEnabled bool

// binaryWazeroVersion is the wazero version the binary under test reports: "dev", as in the
// test binaries of library packages, which have no module information (a main package's
// test binary, this one, reports the module's version).
const binaryWazeroVersion = "dev"

var (
	// binary is the astrid-actors command built once by TestMain.
	binary string
	// cacheDir is the compilation cache shared by every run of the binary and every test
	// binary of the module (testguests.CacheDir).
	cacheDir string
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "astrid-actors-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	binary = filepath.Join(tmp, "astrid-actors")
	cacheDir = testguests.CacheDir()
	// The binary reports the wazero version of the library packages' test binaries, so that it
	// finds the Go guests the actors tests compiled into the shared cache.
	args := []string{"build", "-ldflags=" + testguests.VersionLDFlag(binaryWazeroVersion), "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command(goTool(), append(args, ".")...)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// goTool returns the go command that runs the tests.
func goTool() string {
	if goroot := os.Getenv("GOROOT"); goroot != "" {
		if p := filepath.Join(goroot, "bin", "go"); fileExists(p) {
			return p
		}
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// result is the outcome of one run of the binary.
type result struct {
	stdout, stderr string
	code           int
	elapsed        time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("exit code %d after %v\n--- stdout:\n%s--- stderr:\n%s", r.code, r.elapsed.Round(time.Millisecond), r.stdout, r.stderr)
}

// withCache inserts --cache-dir after the subcommand of the commands that compile wasm.
func withCache(args []string) []string {
	if len(args) == 0 {
		return args
	}
	switch args[0] {
	case "run", "demo", "validate", "inspect":
		return append([]string{args[0], "--cache-dir", cacheDir}, args[1:]...)
	}
	return args
}

// cli runs the binary to completion (at most 60 s) in the test's working directory.
func cli(t *testing.T, args ...string) result {
	t.Helper()
	return cliIn(t, "", args...)
}

func checkNoRace(t *testing.T, stderr string) {
	t.Helper()
	if strings.Contains(stderr, "WARNING: DATA RACE") {
		t.Fatalf("data race in the binary:\n%s", stderr)
	}
}

// process is a running binary whose stderr is followed line by line.
type process struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout bytes.Buffer

	mu     sync.Mutex
	stderr []string
	grew   chan struct{} // signalled when a line arrives
	done   chan struct{} // closed when stderr hits EOF
	waited bool          // wait has reaped the process (test goroutine only)
}

// start starts the binary in the background; it is killed at the end of the test if still
// running.
func start(t *testing.T, args ...string) *process {
	t.Helper()
	return startIn(t, "", args...)
}

// startIn is start with the working directory dir ("" for the test's).
func startIn(t *testing.T, dir string, args ...string) *process {
	t.Helper()
	p := &process{t: t, cmd: exec.Command(binary, withCache(args)...), grew: make(chan struct{}, 1), done: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Stdout = &p.stdout
	errPipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr = append(p.stderr, sc.Text())
			p.mu.Unlock()
			select {
			case p.grew <- struct{}{}:
			default:
			}
		}
		_, _ = io.Copy(io.Discard, errPipe)
	}()
	t.Cleanup(func() {
		if !p.waited {
			_ = p.cmd.Process.Kill()
			<-p.done
			_ = p.cmd.Wait()
		}
	})
	return p
}

// stderrText returns the stderr lines so far.
func (p *process) stderrText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.stderr, "\n") + "\n"
}

// waitStderr waits until a stderr line contains s.
func (p *process) waitStderr(s string, timeout time.Duration) {
	p.t.Helper()
	deadline := time.After(timeout)
	for {
		if strings.Contains(p.stderrText(), s) {
			return
		}
		select {
		case <-p.grew:
		case <-p.done:
			if strings.Contains(p.stderrText(), s) {
				return
			}
			p.t.Fatalf("the process ended without printing %q; stderr:\n%s", s, p.stderrText())
		case <-deadline:
			p.t.Fatalf("no %q on stderr within %v; stderr:\n%s", s, timeout, p.stderrText())
		}
	}
}

// wait waits up to timeout for the process to exit and returns its exit code.
func (p *process) wait(timeout time.Duration) int {
	p.t.Helper()
	exited := make(chan error, 1)
	go func() {
		<-p.done // all of stderr read before Wait closes the pipe
		exited <- p.cmd.Wait()
	}()
	select {
	case err := <-exited:
		p.waited = true
		checkNoRace(p.t, p.stderrText())
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		if err != nil {
			p.t.Fatal(err)
		}
		return 0
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-exited
		p.waited = true
		p.t.Fatalf("the process did not exit within %v; stderr:\n%s", timeout, p.stderrText())
		return -1
	}
}

// demoCapsules copies the demo capsules (demo/<name>/) into a new temporary directory.
func demoCapsules(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	copyTree(t, "demo", dir)
	return dir
}

// copyTree copies the files under src into dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// writeFile writes a file, creating its directory.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// repoFile is a path relative to the repository root.
func repoFile(rel string) string { return filepath.Join("..", "..", filepath.FromSlash(rel)) }

// oneStderrLine checks that stderr is exactly one "astrid-actors: ..." line containing want.
func oneStderrLine(t *testing.T, res result, want string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(res.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "astrid-actors: ") || !strings.Contains(lines[0], want) {
		t.Errorf("stderr: want one line \"astrid-actors: ...%s...\", got:\n%s", want, res.stderr)
	}
}

func TestVersionAndHelp(t *testing.T) {
	t.Parallel()
	res := cli(t, "version")
	if res.code != 0 || !strings.Contains(res.stdout, "capsule ABI 1.0.0") || !strings.Contains(res.stdout, "Astrid "+manifest.AstridRelease+" manifests") {
		t.Errorf("version: %v", res)
	}
	res = cli(t, "help")
	for _, c := range []string{"run", "demo", "validate", "inspect", "version"} {
		if !strings.Contains(res.stdout, "\n  "+c+" ") {
			t.Errorf("help does not list %s:\n%s", c, res.stdout)
		}
	}
	if res.code != 0 {
		t.Errorf("help: %v", res)
	}
	res = cli(t, "bogus")
	if res.code != exitUsage {
		t.Errorf("unknown command: want exit code 2, %v", res)
	}
	oneStderrLine(t, res, `unknown command "bogus"`)
}
