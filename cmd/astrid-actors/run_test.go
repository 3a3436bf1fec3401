package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
)

// decodeLines decodes the --tail JSON lines of stdout.
func decodeLines(t *testing.T, stdout string) []tailLine {
	t.Helper()
	var out []tailLine
	for _, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		if line == "" {
			continue
		}
		var l tailLine
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("not a tail JSON line: %q: %v", line, err)
		}
		out = append(out, l)
	}
	return out
}

func TestRunTailPublishExitOn(t *testing.T) {
	t.Parallel()
	dir := demoCapsules(t)
	res := cli(t, "run", "--tail", "demo.*", "--publish", "demo.start={}", "--exit-on", "demo.done", dir)
	if res.code != 0 {
		t.Fatalf("run: %v", res)
	}
	lines := decodeLines(t, res.stdout)
	if len(lines) != 8 {
		t.Fatalf("want 8 lines (start, 3 pings, 3 pongs, done), got %d:\n%s", len(lines), res.stdout)
	}
	byTopic := map[string][]tailLine{}
	seqs := map[uint64]bool{}
	for _, l := range lines {
		byTopic[l.Topic] = append(byTopic[l.Topic], l)
		if seqs[l.Seq] {
			t.Errorf("seq %d printed twice", l.Seq)
		}
		seqs[l.Seq] = true
		if _, err := time.Parse(time.RFC3339Nano, l.Time); err != nil {
			t.Errorf("time %q: %v", l.Time, err)
		}
		if _, err := uuid.Parse(l.SourceID); err != nil {
			t.Errorf("source_id %q: %v", l.SourceID, err)
		}
	}
	start := byTopic["demo.start"]
	if len(start) != 1 || string(start[0].Payload) != "{}" || start[0].Principal != (tailPrincipal{Kind: "system"}) ||
		start[0].SourceID != uuid.Nil.String() {
		t.Errorf("demo.start: %+v", start)
	}
	for _, topic := range []string{"demo.ping", "demo.pong"} {
		got := byTopic[topic]
		if len(got) != 3 {
			t.Fatalf("%s: want 3 messages, got %+v", topic, got)
		}
		for i, l := range got {
			var p struct{ N int }
			if err := json.Unmarshal(l.Payload, &p); err != nil || p.N != i+1 {
				t.Errorf("%s #%d: payload %s (the payload must be JSON, not a string)", topic, i, l.Payload)
			}
			if l.Principal != (tailPrincipal{Kind: "verified", ID: "default"}) || l.SourceID == uuid.Nil.String() {
				t.Errorf("%s: principal %+v source %s", topic, l.Principal, l.SourceID)
			}
		}
	}
	// ping and pong publish from two different instances.
	if byTopic["demo.ping"][0].SourceID == byTopic["demo.pong"][0].SourceID {
		t.Error("pings and pongs have the same source_id")
	}
	last := lines[len(lines)-1]
	if last.Topic != "demo.done" || string(last.Payload) != `{"pings":3}` || last.SourceID != byTopic["demo.ping"][0].SourceID {
		t.Errorf("the last line must be ping's demo.done {\"pings\":3}: %+v", last)
	}
	for _, want := range []string{"loaded 3 capsule(s): crashy, ping, pong", "capsule ping ", "ready", "--exit-on"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
}

// Overlapping --tail patterns print every message once.
func TestRunOverlappingTails(t *testing.T) {
	t.Parallel()
	dir := demoCapsules(t)
	res := cli(t, "run", "--tail", "demo.*", "--tail", "demo.pong", "--tail", "*.pong",
		"--publish", "demo.start={}", "--exit-on", "demo.done", dir)
	if res.code != 0 {
		t.Fatalf("run: %v", res)
	}
	lines := decodeLines(t, res.stdout)
	if len(lines) != 8 {
		t.Errorf("want 8 lines, got %d:\n%s", len(lines), res.stdout)
	}
}

func TestRunExitAfter(t *testing.T) {
	t.Parallel()
	dir := demoCapsules(t)
	res := cli(t, "run", "--exit-after", "200ms", dir)
	if res.code != 0 {
		t.Fatalf("run: %v", res)
	}
	if res.elapsed > 45*time.Second { // cli kills the process after 60 s
		t.Errorf("took %v", res.elapsed)
	}
	if !strings.Contains(res.stderr, "stopped after 200ms (--exit-after)") || res.stdout != "" {
		t.Errorf("unexpected output: %v", res)
	}
}

func TestRunSIGTERM(t *testing.T) {
	t.Parallel()
	dir := demoCapsules(t)
	p := start(t, "run", dir)
	p.waitStderr("loaded 3 capsule(s)", 30*time.Second)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	if code := p.wait(25 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM; stderr:\n%s", code, p.stderrText())
	}
	// Well under the 30 s that run gives Runtime.Close: the capsules stopped promptly.
	if d := time.Since(sent); d > 20*time.Second {
		t.Errorf("exit took %v after SIGTERM", d)
	}
	if !strings.Contains(p.stderrText(), "SIGTERM: stopping the capsules") {
		t.Errorf("stderr:\n%s", p.stderrText())
	}
}

func TestRunUsageErrors(t *testing.T) {
	t.Parallel()
	dir := demoCapsules(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--bogus", dir}, "unknown flag: --bogus"},
		{[]string{"run", "--publish", "nojson", dir}, `--publish "nojson": want TOPIC=JSON`},
		{[]string{"run", "--publish", "a..b={}", dir}, `--publish "a..b={}": invalid topic`},
		{[]string{"run", "--publish", "a.b={", dir}, "payload is not valid JSON"},
		{[]string{"run", "--publish", "a.b=", dir}, "payload is not valid JSON"},
		{[]string{"run", "--tail", "a..b", dir}, `--tail "a..b": invalid pattern`},
		{[]string{"run", "--exit-on", "", dir}, `--exit-on "": invalid pattern`},
		{[]string{"run", "--exit-after", "soon", dir}, `invalid argument "soon"`},
		{[]string{"run", "--exit-after", "-1s", dir}, "must not be negative"},
		{[]string{"run", "--log-level", "loud", dir}, `--log-level "loud"`},
		{[]string{"run", "--log-format", "xml", dir}, `--log-format "xml"`},
		{[]string{"run", "--metrics", "nonsense", dir}, `--metrics "nonsense"`},
		{[]string{"run"}, "at least one capsule directory"},
		{[]string{"inspect"}, "expected one .wasm file"},
		{[]string{"validate"}, "at least one capsule directory"},
		{[]string{"demo", "extra"}, `demo: unexpected argument "extra"`},
		{[]string{"version", "extra"}, `version: unexpected argument "extra"`},
	} {
		res := cli(t, tc.args...)
		if res.code != exitUsage || res.stdout != "" {
			t.Errorf("%q: want exit code 2 and no stdout, got %v", tc.args, res)
		}
		oneStderrLine(t, res, tc.want)
	}
}

func TestRunLoadErrorsAreReported(t *testing.T) {
	t.Parallel()
	dir := demoCapsules(t)
	broken := filepath.Join(dir, "broken", "Capsule.toml")
	writeFile(t, broken, "[package]\nname = \"broken\"\nversion = \"1.0.0\"\n[[component]]\nid = \"main\"\nfile = \"x.wasm\"\n[publish]\n\"a..b\" = \"opaque\"\n")
	res := cli(t, "run", "--exit-after", "100ms", dir)
	if res.code != 0 {
		t.Fatalf("one broken manifest must not stop the others: %v", res)
	}
	if !strings.Contains(res.stderr, "not loaded: "+broken+`: [publish] "a..b": empty topic segment`) ||
		!strings.Contains(res.stderr, "loaded 3 capsule(s)") {
		t.Errorf("stderr:\n%s", res.stderr)
	}

	only := t.TempDir()
	writeFile(t, filepath.Join(only, "broken", "Capsule.toml"), "[package]\nname = \"Bad Name\"\n")
	res = cli(t, "run", "--exit-after", "100ms", only)
	if res.code != exitFailure || !strings.Contains(res.stderr, "astrid-actors: no capsule could be started from "+only) {
		t.Errorf("nothing loadable: want exit code 1: %v", res)
	}

	res = cli(t, "run", filepath.Join(only, "missing"))
	if res.code != exitFailure {
		t.Errorf("missing directory: want exit code 1: %v", res)
	}
	oneStderrLine(t, res, "no such directory")
}
