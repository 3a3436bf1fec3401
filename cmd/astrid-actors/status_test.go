package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/astrid-actors/astrid-actors/actors"
	"github.com/astrid-actors/astrid-actors/internal/syncbuf"
)

// crashLines are the status lines of crashy's crash and restart, in order, and the summary.
var crashLines = []*regexp.Regexp{
	regexp.MustCompile(`^capsule crashy\s+ready\s+instance \S+\s+restarts 0$`),
	regexp.MustCompile(`^astrid-actors: loaded 1 capsule\(s\): crashy$`),
	regexp.MustCompile(`^capsule crashy\s+crashed\s+instance \S+\s+restarts 0\s+reason: wasm error: unreachable$`),
	regexp.MustCompile(`^capsule crashy\s+restarted\s+instance \S+\s+restarts 1$`),
	regexp.MustCompile(`^capsule crashy\s+ready\s+instance \S+\s+restarts 1$`),
}

// TestRunStatusLinesInOrder runs the crashy demo capsule through a crash and its restart
// (repeatedly: the order must not depend on timing) and checks that stderr holds exactly one
// line per event, in the order the events happened, and no log line repeating them.
func TestRunStatusLinesInOrder(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(demoCapsules(t), "crashy")
	for range 3 {
		p := start(t, "run", "--publish", "demo.crash={}", dir)
		p.waitStderrMatch(crashLines[len(crashLines)-1], 30*time.Second) // the new instance is ready
		if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if code := p.wait(30 * time.Second); code != 0 {
			t.Fatalf("exit code %d:\n%s", code, p.stderrText())
		}
		var lines []string
		for _, l := range strings.Split(p.stderrText(), "\n") {
			if strings.HasPrefix(l, "capsule ") || strings.HasPrefix(l, "astrid-actors: loaded") {
				lines = append(lines, l)
			} else if strings.Contains(l, "crashed") || strings.Contains(l, "restart") {
				t.Errorf("a second line about the crash: %q", l)
			}
		}
		if len(lines) != len(crashLines) {
			t.Fatalf("want %d status lines, got:\n%s", len(crashLines), strings.Join(lines, "\n"))
		}
		for i, re := range crashLines {
			if !re.MatchString(lines[i]) {
				t.Errorf("status line %d: want %s, got %q\nall:\n%s", i+1, re, lines[i], strings.Join(lines, "\n"))
			}
		}
	}
}

// badCapsules writes a capsule whose wasm is not wasm and one whose wasm is missing, next to
// a copy of the pong demo capsule, and returns the directory and the two manifests.
func badCapsules(t *testing.T) (dir, garbage, missing string) {
	t.Helper()
	dir = t.TempDir()
	copyTree(t, filepath.Join("demo", "pong"), filepath.Join(dir, "pong"))
	garbage = filepath.Join(dir, "garbage", "Capsule.toml")
	writeFile(t, garbage, "[package]\nname = \"garbage\"\nversion = \"1.0.0\"\n[[component]]\nid = \"main\"\nfile = \"x.wasm\"\n")
	writeFile(t, filepath.Join(dir, "garbage", "x.wasm"), "not wasm")
	missing = filepath.Join(dir, "missing", "Capsule.toml")
	writeFile(t, missing, "[package]\nname = \"missing\"\nversion = \"1.0.0\"\n[[component]]\nid = \"main\"\nfile = \"x.wasm\"\n")
	return dir, garbage, missing
}

// TestRunLoadFailureReportedOnce checks that each capsule that cannot be loaded gets exactly
// one stderr line, naming its manifest and the reason.
func TestRunLoadFailureReportedOnce(t *testing.T) {
	t.Parallel()
	dir, garbage, missing := badCapsules(t)
	res := cli(t, "run", "--exit-after", "100ms", dir)
	if res.code != 0 {
		t.Fatalf("the bad capsules must not stop pong: %v", res)
	}
	for _, tc := range []struct{ name, manifest, reason string }{
		{"garbage", garbage, "invalid magic number"},
		{"missing", missing, `"x.wasm" does not exist`},
	} {
		var about []string
		for _, l := range strings.Split(res.stderr, "\n") {
			if strings.Contains(l, tc.name) {
				about = append(about, l)
			}
		}
		if len(about) != 1 || !strings.Contains(about[0], "not loaded: ") || !strings.Contains(about[0], tc.manifest) || !strings.Contains(about[0], tc.reason) {
			t.Errorf("%s: want one \"not loaded\" line naming %s and %q, got %q", tc.name, tc.manifest, tc.reason, about)
		}
	}
	if !strings.Contains(res.stderr, "loaded 1 capsule(s): pong") {
		t.Errorf("stderr:\n%s", res.stderr)
	}
}

// TestRunJSONStderr checks that with --log-format json every stderr line is a JSON object
// with the logger's keys, through a load failure, a crash, a restart and the final error
// of a bad command.
func TestRunJSONStderr(t *testing.T) {
	t.Parallel()
	dir, _, _ := badCapsules(t)
	copyTree(t, filepath.Join("demo", "crashy"), filepath.Join(dir, "crashy"))
	p := start(t, "run", "--log-format", "json", "--log-level", "info", "--publish", "demo.crash={}", dir)
	p.waitStderr(`"restarts":1}`, 30*time.Second)
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit code %d:\n%s", code, p.stderrText())
	}
	res := cli(t, "run", "--log-format", "json", filepath.Join(dir, "no-such-dir"))
	if res.code != exitFailure {
		t.Errorf("missing directory: %v", res)
	}
	stderr := p.stderrText() + res.stderr
	statuses := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("not a JSON line: %q", l)
			continue
		}
		for _, k := range []string{"level", "ts", "msg"} {
			if _, ok := m[k]; !ok {
				t.Errorf("no %q in %q", k, l)
			}
		}
		if s, ok := m["status"].(string); ok {
			statuses[s] = true
		}
	}
	for _, s := range []string{"ready", "crashed", "restarted"} {
		if !statuses[s] {
			t.Errorf("no JSON status line with status %q:\n%s", s, stderr)
		}
	}
}

// TestRunQuiet checks that --quiet keeps the errors and drops the status lines and notes.
func TestRunQuiet(t *testing.T) {
	t.Parallel()
	dir, garbage, _ := badCapsules(t)
	res := cli(t, "run", "--quiet", "--exit-after", "100ms", dir)
	if res.code != 0 || !strings.Contains(res.stderr, "not loaded: ") || !strings.Contains(res.stderr, garbage) {
		t.Errorf("want the load errors: %v", res)
	}
	for _, unwanted := range []string{"capsule pong", "loaded 1 capsule(s)", "stopped"} {
		if strings.Contains(res.stderr, unwanted) {
			t.Errorf("--quiet printed %q:\n%s", unwanted, res.stderr)
		}
	}
}

// TestLoadProgressNotes checks that a long load is reported while it lasts, and not after.
func TestLoadProgressNotes(t *testing.T) {
	after, every := loadNoteAfter, loadNoteEvery
	loadNoteAfter, loadNoteEvery = time.Millisecond, time.Millisecond
	defer func() { loadNoteAfter, loadNoteEvery = after, every }()
	ctx := context.Background()
	r, err := actors.New(ctx, actors.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	var buf syncbuf.Buffer
	stop := loadProgress(&lineWriter{w: &buf}, r, "/cache")
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(buf.String(), "\n") < 2 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	stop()
	notes := buf.String()
	if !strings.Contains(notes, "astrid-actors: loading for ") || !strings.Contains(notes, "0 capsule(s) started so far") || !strings.Contains(notes, "cached in /cache") {
		t.Fatalf("progress notes:\n%s", notes)
	}
	if again := buf.String(); again != notes {
		t.Errorf("a note after stop:\n%s", again)
	}
}

// waitStderrMatch waits until a stderr line matches re.
func (p *process) waitStderrMatch(re *regexp.Regexp, timeout time.Duration) {
	p.t.Helper()
	deadline := time.After(timeout)
	matches := func() bool {
		for _, l := range strings.Split(p.stderrText(), "\n") {
			if re.MatchString(l) {
				return true
			}
		}
		return false
	}
	for !matches() {
		select {
		case <-p.grew:
		case <-p.done:
			if !matches() {
				p.t.Fatalf("the process ended without a line matching %s; stderr:\n%s", re, p.stderrText())
			}
			return
		case <-deadline:
			p.t.Fatalf("no line matching %s on stderr within %v; stderr:\n%s", re, timeout, p.stderrText())
		}
	}
}
