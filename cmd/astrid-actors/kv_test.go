package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/astrid-actors/astrid-actors/internal/testguests"
)

// TestRunDataDir runs examples/counter twice with the same --data-dir: the second run
// continues the count of the first, so the state lives in the directory, not the process.
func TestRunDataDir(t *testing.T) {
	t.Parallel()
	capsules := t.TempDir()
	writeFile(t, filepath.Join(capsules, "counter", "counter.wasm"), string(testguests.Build(t, "examples/counter")))
	toml, err := os.ReadFile("../../examples/counter/Capsule.toml")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(capsules, "counter", "Capsule.toml"), string(toml))
	data := t.TempDir()
	for _, want := range []string{`{"n":1}`, `{"n":2}`} {
		res := cli(t, "run", "--data-dir", data, "--tail", "counter.value", "--publish", "counter.tick={}",
			"--exit-on", "counter.value", capsules)
		if res.code != 0 {
			t.Fatalf("run: %v", res)
		}
		lines := decodeLines(t, res.stdout)
		if len(lines) != 1 || string(lines[0].Payload) != want {
			t.Fatalf("want one counter.value %s, got:\n%s", want, res.stdout)
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
