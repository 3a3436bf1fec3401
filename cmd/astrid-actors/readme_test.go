package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/astrid-actors/astrid-actors/internal/testguests"
)

// readmeCommands returns the command lines of the sh blocks of a markdown file (relative to
// the repository root), without comments.
func readmeCommands(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(file)))
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		switch trimmed := strings.TrimSpace(line); {
		case !in && trimmed == "```sh":
			in = true
		case in && trimmed == "```":
			in = false
		case in && trimmed != "":
			cmds = append(cmds, stripComment(trimmed))
		}
	}
	return cmds
}

// stripComment removes a trailing "# ..." outside single quotes.
func stripComment(line string) string {
	quoted := false
	for i, r := range line {
		switch {
		case r == '\'':
			quoted = !quoted
		case r == '#' && !quoted && (i == 0 || line[i-1] == ' '):
			return strings.TrimSpace(line[:i])
		}
	}
	return line
}

// splitWords splits a command line at spaces, honouring single quotes (all the README uses).
func splitWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	quoted, inWord := false, false
	for _, r := range line {
		switch {
		case r == '\'':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unbalanced quote in README command %q", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// TestREADMECommands runs every command of the sh blocks of README.md and
// examples/README.md as written, from the repository root, in order, and expects each to
// succeed. A go build line prefixed with environment variables runs with them. `go install ./cmd/astrid-actors`
// is the binary TestMain built, `go test -race ./...` is this run; `go run ./examples/build`
// really builds the examples into examples/*/*.wasm (ignored by git). The metrics command runs
// until Ctrl-C: it is started, its /metrics scraped and then interrupted, on port 0 rather
// than 9090, which may be taken.
func TestREADMECommands(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cmds := readmeCommands(t, "README.md")
	if len(cmds) < 5 {
		t.Fatalf("found only %d commands in the README's sh blocks: %q", len(cmds), cmds)
	}
	cmds = append(cmds, readmeCommands(t, "examples/README.md")...)
	for _, line := range cmds {
		words := splitWords(t, line)
		var env []string
		for len(words) > 1 && regexp.MustCompile(`^[A-Z0-9_]+=`).MatchString(words[0]) {
			env, words = append(env, words[0]), words[1:]
		}
		switch {
		case len(words) > 2 && words[0] == "go" && words[1] == "build":
			cmd := exec.Command(goTool(), words[1:]...)
			cmd.Dir, cmd.Env = root, append(os.Environ(), env...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("README command %q: %v\n%s", line, err, out)
			}
			continue
		case line == "go test -race ./..." || line == "go install ./cmd/astrid-actors":
			continue
		case strings.HasPrefix(line, "go run ./cmd/astrid-actors "):
			words = append([]string{"astrid-actors"}, words[3:]...)
		case line == "go run ./examples/build":
			buildExamples(t, root)
			continue
		case words[0] != "astrid-actors":
			t.Errorf("README command %q: the test does not know how to run it", line)
			continue
		}
		args := words[1:]
		if i := indexOf(args, "--metrics"); i >= 0 && i+1 < len(args) {
			args[i+1] = "127.0.0.1:0"
			runMetricsCommand(t, root, line, args)
			continue
		}
		res := cliIn(t, root, args...)
		if res.code != 0 {
			t.Errorf("README command %q failed:\n%v", line, res)
		}
		if strings.Contains(line, "--tail") && !strings.Contains(res.stdout, `"topic":"demo.done"`) {
			t.Errorf("README command %q printed no demo.done:\n%v", line, res)
		}
	}
}

func indexOf(words []string, w string) int {
	for i, x := range words {
		if x == w {
			return i
		}
	}
	return -1
}

// buildExamples runs `go run ./examples/build` in root and, under -race, compiles the built
// modules with testguests' helper into the shared cache, so that the race-enabled binary does
// not spend minutes compiling them.
func buildExamples(t *testing.T, root string) {
	t.Helper()
	cmd := exec.Command(goTool(), "run", "./examples/build")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go run ./examples/build: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`built \d+ example capsule\(s\)`).Match(out) {
		t.Errorf("go run ./examples/build printed no summary:\n%s", out)
	}
	if !raceEnabled {
		return
	}
	wasms, err := filepath.Glob(filepath.Join(root, "examples", "*", "*.wasm"))
	if err != nil || len(wasms) == 0 {
		t.Fatalf("no examples/*/*.wasm after go run ./examples/build: %v", err)
	}
	for _, f := range wasms {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		testguests.PrecompileFor(t, cacheDir, binaryWazeroVersion, b)
	}
}

// cliIn runs the binary in dir (empty: the test's working directory) to completion (at most 60 s).
func cliIn(t *testing.T, dir string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, withCache(args)...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start)}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	default:
		t.Fatalf("run %v: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("astrid-actors %v did not finish within 60s\n%v", args, res)
	}
	checkNoRace(t, res.stderr)
	return res
}

// runMetricsCommand starts a run with --metrics, scrapes /metrics once every capsule is
// loaded, then interrupts it: it must exit 0.
func runMetricsCommand(t *testing.T, root, line string, args []string) {
	t.Helper()
	p := startIn(t, root, args...)
	p.waitStderr("loaded ", 60*time.Second)
	m := regexp.MustCompile(`metrics on (http://\S+/metrics)`).FindStringSubmatch(p.stderrText())
	if m == nil {
		t.Fatalf("README command %q printed no metrics address:\n%s", line, p.stderrText())
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatalf("README command %q: GET %s: %v", line, m[1], err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("astrid_capsules_live")) {
		t.Errorf("README command %q: GET %s: %v %v\n%s", line, m[1], resp.Status, err, body)
	}
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(30 * time.Second); code != 0 {
		t.Errorf("README command %q exited %d after Ctrl-C:\n%s", line, code, p.stderrText())
	}
}
