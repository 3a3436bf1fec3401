package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/astrid-actors/astrid-actors/internal/bench"
)

func TestBench(t *testing.T) {
	t.Parallel()
	res := cli(t, "bench", "--scenario", "restart", "--scenario", "pubsub", "--duration", "100ms", "--rounds", "2", "--json")
	if res.code != 0 {
		t.Fatalf("bench: %v", res)
	}
	var results []bench.Result
	if err := json.Unmarshal([]byte(res.stdout), &results); err != nil {
		t.Fatalf("%v:\n%s", err, res.stdout)
	}
	scenarios := map[string]bool{}
	for _, r := range results {
		scenarios[r.Scenario] = true
		if r.Value <= 0 || len(r.Baselines) == 0 || r.Baselines[0].Ratio <= 0 {
			t.Errorf("result %+v", r)
		}
		if r.Scenario == "pubsub" && (r.Rounds != 2 || r.Spread == nil || r.Baselines[0].RatioSpread == nil) {
			t.Errorf("pubsub: rounds %d, spread %v, ratio spread %v: want 2 rounds with spreads", r.Rounds, r.Spread, r.Baselines[0].RatioSpread)
		}
	}
	if !scenarios["restart"] || !scenarios["pubsub"] || len(scenarios) != 2 {
		t.Fatalf("scenarios %v", scenarios)
	}
	if !strings.Contains(res.stderr, "restart") {
		t.Errorf("no progress on stderr: %q", res.stderr)
	}

	res = cli(t, "bench", "--scenario", "restart", "--duration", "100ms")
	if res.code != 0 || !strings.Contains(res.stdout, "RATIO") || !strings.Contains(res.stdout, "bare wazero") {
		t.Fatalf("bench table: %v", res)
	}

	// --pressure: the note names it, and no pressure process of this binary is left afterwards
	res = cli(t, "bench", "--scenario", "restart", "--duration", "100ms", "--pressure", "cpu=1,mem=16M", "--json")
	if res.code != 0 || !strings.Contains(res.stdout, "beside pressure cpu=1,mem=16M") || !strings.Contains(res.stderr, "pressure cpu=1,mem=16M started") {
		t.Fatalf("bench --pressure: %v", res)
	}
	if left := processesOf(t, binary, bench.PressureChildCommand); len(left) > 0 {
		t.Errorf("pressure processes left after the bench: %v", left)
	}

	for _, args := range [][]string{{"bench", "--scenario", "nope"}, {"bench", "--duration", "-1s"}, {"bench", "--rounds", "0"}, {"bench", "--batch-records", "0"}, {"bench", "--batch-records", "1025"}, {"bench", "--pressure", "cpu=x"}, {"bench", "extra"}} {
		if res := cli(t, args...); res.code != 2 {
			t.Errorf("%v: %v, want exit 2", args, res)
		}
	}
}

// processesOf lists the pids of running processes whose command line starts with exe and
// contains arg.
func processesOf(t *testing.T, exe, arg string) []string {
	t.Helper()
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil || len(dirs) == 0 {
		t.Skipf("no /proc: %v", err)
	}
	var out []string
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 1 && args[0] == exe && slices.Contains(args, arg) {
			out = append(out, filepath.Base(d))
		}
	}
	return out
}
