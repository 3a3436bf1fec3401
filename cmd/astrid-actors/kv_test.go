package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// TestRunDataDir runs the demo's counter capsule twice with the same --data-dir: the second
// run continues the count of the first, so the state lives in the directory, not the process.
func TestRunDataDir(t *testing.T) {
	t.Parallel()
	capsules := t.TempDir()
	copyTree(t, "demokv", capsules)
	data := t.TempDir()
	for _, want := range []string{`{"n":1}`, `{"n":2}`} {
		res := cli(t, "run", "--data-dir", data, "--tail", "demo.count", "--publish", "demo.tick={}",
			"--exit-on", "demo.count", capsules)
		if res.code != 0 {
			t.Fatalf("run: %v", res)
		}
		lines := decodeLines(t, res.stdout)
		if len(lines) != 1 || string(lines[0].Payload) != want {
			t.Fatalf("want one demo.count %s, got:\n%s", want, res.stdout)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "kv.db")); err != nil {
		t.Fatalf("no store in --data-dir: %v", err)
	}
}

// TestDemoCounter checks the demo's durable-state step: the counter counts on after its crash.
func TestDemoCounter(t *testing.T) {
	t.Parallel()
	res := cli(t, "demo")
	if res.code != 0 {
		t.Fatalf("demo failed: %v", res)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`counter\s+demo\.count\s+\{"n":1\}[\s\S]*counter\s+demo\.count\s+\{"n":2\}[\s\S]*` +
			`crashed\s+counter\s+instance \S+\s+wasm error: unreachable[\s\S]*restarted\s+counter[\s\S]*counter\s+demo\.count\s+\{"n":3\}`),
		regexp.MustCompile(`(?m)^\s+counter\s+ready\s+\S+\s+1\s+`),
	} {
		if !want.MatchString(res.stdout) {
			t.Errorf("demo output lacks %v:\n%s", want, res.stdout)
		}
	}
}

// TestDemoKVWasmUpToDate checks that demokv/<name>/<name>.wasm is what wat2wasm makes of the
// .wat source. Regenerate with: wat2wasm demokv/counter/counter.wat -o demokv/counter/counter.wasm
func TestDemoKVWasmUpToDate(t *testing.T) {
	t.Parallel()
	wat2wasm, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Skip("wat2wasm is not on PATH (Debian package wabt)")
	}
	sources, err := filepath.Glob(filepath.Join("demokv", "*", "*.wat"))
	if err != nil || len(sources) == 0 {
		t.Fatalf("demokv sources: %v %v", sources, err)
	}
	for _, src := range sources {
		committed := src[:len(src)-len(".wat")] + ".wasm"
		fresh := filepath.Join(t.TempDir(), filepath.Base(committed))
		if out, err := exec.Command(wat2wasm, src, "-o", fresh).CombinedOutput(); err != nil {
			t.Fatalf("wat2wasm %s: %v\n%s", src, err, out)
		}
		want, _ := os.ReadFile(fresh)
		got, err := os.ReadFile(committed)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is stale or missing (%v): run wat2wasm %s -o %s", committed, err, src, committed)
		}
	}
}
