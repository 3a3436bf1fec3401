package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestDemo(t *testing.T) {
	t.Parallel()
	res := cli(t, "demo")
	if res.code != 0 {
		t.Fatalf("demo failed: %v", res)
	}
	for _, n := range []string{"1", "2", "3"} {
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`ping\s+demo\.ping\s+\{"n":` + n + `\}\s+verified\(default\)`),
			regexp.MustCompile(`pong\s+demo\.pong\s+\{"n":` + n + `\}\s+verified\(default\)`),
		} {
			if !want.MatchString(res.stdout) {
				t.Errorf("demo output lacks %v:\n%s", want, res.stdout)
			}
		}
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`host\s+demo\.start\s+\{\}\s+system`),
		regexp.MustCompile(`ping\s+demo\.done\s+\{"pings":3\}`),
		regexp.MustCompile(`crashed\s+crashy\s+instance \S+\s+wasm error: unreachable`),
		regexp.MustCompile(`restarted\s+crashy\s+instance \S+\s+restart 1`),
		regexp.MustCompile(`ready\s+crashy\s+instance \S+\s+\S+ after the crash`),
		// final table: crashy ready again with one restart
		regexp.MustCompile(`(?m)^\s+crashy\s+ready\s+\S+\s+1\s+`),
		regexp.MustCompile(`Runtime closed`),
	} {
		if !want.MatchString(res.stdout) {
			t.Errorf("demo output lacks %v:\n%s", want, res.stdout)
		}
	}
	// The instance after the restart differs from the one that crashed.
	m := regexp.MustCompile(`crashed\s+crashy\s+instance (\S+)[\s\S]*restarted\s+crashy\s+instance (\S+)`).FindStringSubmatch(res.stdout)
	if m == nil || m[1] == m[2] {
		t.Errorf("the restarted instance should be new: %q", m)
	}
	if strings.TrimSpace(res.stderr) != "" {
		t.Errorf("demo wrote to stderr:\n%s", res.stderr)
	}
}

// TestDemoWasmUpToDate checks that the committed demo/<name>/<name>.wasm files are what
// wat2wasm makes of the .wat sources. Regenerate them with
//
//	for n in ping pong crashy; do wat2wasm demo/$n/$n.wat -o demo/$n/$n.wasm; done
func TestDemoWasmUpToDate(t *testing.T) {
	t.Parallel()
	wat2wasm, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Skip("wat2wasm is not on PATH (Debian package wabt)")
	}
	sources, err := filepath.Glob(filepath.Join("demo", "*", "*.wat"))
	if err != nil || len(sources) < 3 {
		t.Fatalf("demo sources: %v %v", sources, err)
	}
	for _, src := range sources {
		committed := strings.TrimSuffix(src, ".wat") + ".wasm"
		fresh := filepath.Join(t.TempDir(), filepath.Base(committed))
		if out, err := exec.Command(wat2wasm, src, "-o", fresh).CombinedOutput(); err != nil {
			t.Fatalf("wat2wasm %s: %v\n%s", src, err, out)
		}
		want, err := os.ReadFile(fresh)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(committed)
		if err != nil {
			t.Fatalf("%v (run: wat2wasm %s -o %s)", err, src, committed)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run wat2wasm %s -o %s", committed, src, committed)
		}
	}
}
