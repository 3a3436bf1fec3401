package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/internal/leakcheck"
)

var (
	full     = flag.Bool("bench.full", false, "run every scenario with the default settings and print the table (slow)")
	fullJSON = flag.String("bench.json", "", "with -bench.full, also write the JSON results to this file")
	fullOnly = flag.String("bench.scenarios", "", "with -bench.full, the comma-separated scenarios to run (default all)")
	fullDur  = flag.Duration("bench.duration", 0, "with -bench.full, Config.Duration")
	fullPay  = flag.Int("bench.payload", 0, "with -bench.full, Config.PayloadBytes")
	fullSubs = flag.Int("bench.subscribers", 0, "with -bench.full, Config.Subscribers")
	fullCnt  = flag.String("bench.counts", "", "with -bench.full, Config.ColdStartCounts, comma-separated")
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == ClusterNodeCommand { // a node of the cluster scenario
		os.Exit(RunClusterNode(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == PressureChildCommand { // a pressure process
		os.Exit(RunPressureChild(os.Args[2:]))
	}
	goleak.VerifyTestMain(m, leakcheck.Options()...)
}

// progress returns where a test sends progress lines: the test log with -v.
func progress(t *testing.T) io.Writer {
	if testing.Verbose() {
		return tlog{t}
	}
	return nil
}

type tlog struct{ t *testing.T }

func (l tlog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestRunAll runs every scenario with tiny settings and checks the results are well formed.
func TestRunAll(t *testing.T) {
	// every scenario, kv's durable writes included, under -race on a loaded 2-core machine
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rs, err := Run(ctx, Config{
		Duration:        100 * time.Millisecond,
		ColdStartCounts: []int{1, 10},
		Subscribers:     3,
		Progress:        progress(t),
		Executable:      os.Args[0],
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{ScenarioPubSub: 1, ScenarioBatch: 1, ScenarioFanout: 1, ScenarioRTT: 2, ScenarioWake: 2, ScenarioColdStart: 4, ScenarioRestart: 2, ScenarioCompute: 1, ScenarioKV: 10,
		ScenarioCluster: 7}
	got := map[string]int{}
	for _, r := range rs {
		got[r.Scenario]++
		checkResult(t, r)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("results per scenario = %v, want %v", got, want)
	}
	for _, r := range rs {
		switch r.Scenario {
		case ScenarioPubSub, ScenarioBatch, ScenarioFanout, ScenarioRTT, ScenarioWake:
			if !strings.Contains(r.Note, "dropped 0") {
				t.Errorf("%s %s: note %q does not report zero drops", r.Scenario, r.Metric, r.Note)
			}
		}
	}
	checkTable(t, rs)
	checkJSON(t, rs)
}

// roundScenarios are the scenarios whose figures are ratios, run interleaved in rounds.
var roundScenarios = []string{ScenarioPubSub, ScenarioBatch, ScenarioFanout, ScenarioRTT, ScenarioWake, ScenarioRestart, ScenarioCompute}

func within(v float64, s *Spread) bool { return s.Min <= v && v <= s.Max }

func checkResult(t *testing.T, r Result) {
	t.Helper()
	name := r.Scenario + " " + r.Metric
	if r.Metric == "" || r.Unit == "" || r.Note == "" {
		t.Errorf("%s: metric %q, unit %q, note %q: want all set", name, r.Metric, r.Unit, r.Note)
	}
	rssResult := strings.HasPrefix(r.Metric, "RSS")
	if r.Value <= 0 && !(rssResult && r.Value == 0) || math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
		t.Errorf("%s: value %v", name, r.Value)
	}
	if len(r.Baselines) == 0 {
		t.Errorf("%s: no baselines", name)
	}
	for _, b := range r.Baselines {
		if b.Name == "" || b.Value <= 0 && !rssResult {
			t.Errorf("%s: baseline %+v", name, b)
		}
		if r.Rounds > 0 {
			// medians over interleaved rounds: each figure within its range
			if b.Spread == nil || b.RatioSpread == nil || !within(b.Value, b.Spread) || !within(b.Ratio, b.RatioSpread) || b.Ratio <= 0 {
				t.Errorf("%s: baseline %s value %v spread %v ratio %v spread %v", name, b.Name, b.Value, b.Spread, b.Ratio, b.RatioSpread)
			}
			continue
		}
		if b.Value > 0 && math.Abs(b.Ratio-r.Value/b.Value) > 1e-9*math.Abs(b.Ratio) {
			t.Errorf("%s: baseline %s ratio %v, want %v", name, b.Name, b.Ratio, r.Value/b.Value)
		}
	}
	if r.Rounds > 0 && (r.Spread == nil || !within(r.Value, r.Spread)) {
		t.Errorf("%s: value %v outside its spread %v over %d rounds", name, r.Value, r.Spread, r.Rounds)
	}
	if (slices.Contains(roundScenarios, r.Scenario) || r.Scenario == ScenarioColdStart && strings.HasPrefix(r.Metric, "per-capsule start")) &&
		r.Rounds != DefaultRounds {
		t.Errorf("%s: %d rounds, want %d", name, r.Rounds, DefaultRounds)
	}
	if r.Target == "" && !r.Met {
		t.Errorf("%s: no target but not met", name)
	}
}

// checkTable parses the table back: a header, then one row per result and one more per
// further baseline, whose cells match the results.
func checkTable(t *testing.T, rs []Result) {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteTable(&buf, rs); err != nil {
		t.Fatal(err)
	}
	t.Logf("table:\n%s", buf.String())
	sc := bufio.NewScanner(&buf)
	if !sc.Scan() {
		t.Fatal("empty table")
	}
	header := sc.Text()
	cols := make([]int, len(tableHeader)) // start column (in runes) of each header cell
	from := 0                             // byte offset in header
	for i, h := range tableHeader {
		at := strings.Index(header[from:], h)
		if at < 0 {
			t.Fatalf("header %q lacks %q in order", header, h)
		}
		cols[i] = len([]rune(header[:from+at]))
		from += at + len(h)
	}
	cell := func(line string, i int) string {
		r := []rune(line)
		end := len(r)
		if i+1 < len(cols) {
			end = min(cols[i+1], len(r))
		}
		if cols[i] >= len(r) {
			return ""
		}
		return strings.TrimSpace(string(r[cols[i]:end]))
	}
	for _, r := range rs {
		for i := range max(1, len(r.Baselines)) {
			if !sc.Scan() {
				t.Fatalf("table ends before %s %s", r.Scenario, r.Metric)
			}
			line := sc.Text()
			wantScenario, wantMetric := r.Scenario, r.Metric
			if i > 0 {
				wantScenario, wantMetric = "", ""
			}
			if cell(line, 0) != wantScenario || cell(line, 1) != wantMetric {
				t.Errorf("row %q: scenario %q metric %q, want %q %q", line, cell(line, 0), cell(line, 1), wantScenario, wantMetric)
			}
			if i == 0 && !strings.HasSuffix(cell(line, 2), " "+r.Unit) {
				t.Errorf("row %q: value %q lacks the unit %q", line, cell(line, 2), r.Unit)
			}
			if len(r.Baselines) > 0 {
				b := r.Baselines[i]
				if cell(line, 5) != b.Name {
					t.Errorf("row %q: baseline %q, want %q", line, cell(line, 5), b.Name)
				}
				if b.Ratio == 0 {
					if cell(line, 7) != "-" {
						t.Errorf("row %q: ratio %q, want -", line, cell(line, 7))
					}
					continue
				}
				ratioCell, spread, ranged := strings.Cut(cell(line, 7), " (")
				if ranged != (b.RatioSpread != nil) || ranged && !strings.HasSuffix(spread, ")") {
					t.Errorf("row %q: ratio %q: range shown %v, want %v", line, cell(line, 7), ranged, b.RatioSpread != nil)
				}
				ratio, err := strconv.ParseFloat(ratioCell, 64)
				if err != nil || math.Abs(ratio-b.Ratio) > 0.01*b.Ratio+0.0051 {
					t.Errorf("row %q: ratio %q, want %v (%v)", line, cell(line, 7), b.Ratio, err)
				}
			}
		}
	}
	if sc.Scan() && sc.Text() != "" {
		t.Errorf("unexpected row after the results: %q", sc.Text())
	}
}

func checkJSON(t *testing.T, rs []Result) {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteJSON(&buf, rs); err != nil {
		t.Fatal(err)
	}
	var back []Result
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatalf("JSON does not parse: %v\n%s", err, buf.String())
	}
	if !reflect.DeepEqual(back, rs) {
		t.Errorf("JSON round trip differs:\n%+v\n%+v", back, rs)
	}
}

func TestReportNonFinite(t *testing.T) {
	rs := []Result{{Scenario: "x", Metric: "m", Unit: "µs", Value: math.NaN(), Met: true,
		Baselines: []Baseline{{Name: "b", Value: math.Inf(1), Ratio: math.NaN()}}}}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, rs); err != nil {
		t.Fatal(err)
	}
	if !json.Valid(buf.Bytes()) {
		t.Fatalf("invalid JSON %s", buf.String())
	}
	if err := WriteTable(&buf, rs); err != nil {
		t.Fatal(err)
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		v    float64
		unit string
		want string
	}{
		{1234567.4, "msg/s", "1 234 567 msg/s"},
		{999.6, "µs", "1 000 µs"},
		{123.4, "µs", "123 µs"},
		{12.34, "µs", "12.3 µs"},
		{1.234, "µs", "1.23 µs"},
		{0, "KiB", "0.00 KiB"},
	} {
		if got := formatValue(c.v, c.unit); got != c.want {
			t.Errorf("formatValue(%v, %q) = %q, want %q", c.v, c.unit, got, c.want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Scenarios: []string{"nope"}},
		{PayloadBytes: MaxPayloadBytes + 1},
		{ColdStartCounts: []int{1, 0}},
	} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("Run(%+v) did not fail", cfg)
		}
	}
}

func TestPayloads(t *testing.T) {
	for n := 1; n <= 300; n++ {
		p := payload(n)
		if len(p) != n || !json.Valid(p) {
			t.Fatalf("payload(%d) = %q (%d bytes)", n, p, len(p))
		}
	}
	for _, size := range []int{wakeMinPayload, 13, 26, 27, 28, 29, 128, 4096} {
		for _, i := range []int{0, 7, 123456, 9999999999} {
			p := wakePayload(i, size)
			if len(p) != size || !json.Valid(p) {
				t.Fatalf("wakePayload(%d, %d) = %q (%d bytes)", i, size, p, len(p))
			}
			if got, err := wakeIndex(p); err != nil || got != i {
				t.Fatalf("wakeIndex(%q) = %d, %v; want %d", p, got, err, i)
			}
		}
	}
}

func TestCalibrate(t *testing.T) {
	var calls []int
	n, el, err := calibrate(context.Background(), 50*time.Millisecond, 1000, 1000, 1<<30, func(n int) (time.Duration, error) {
		calls = append(calls, n)
		return time.Duration(n) * time.Microsecond, nil // 1 µs per item
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range calls {
		if c%1000 != 0 {
			t.Errorf("run of %d is not a multiple of the step", c)
		}
	}
	if n < 50000 || n > 51000 || el != time.Duration(n)*time.Microsecond {
		t.Errorf("sized run: n %d, %v; want about 50 000, 50 ms (calls %v)", n, el, calls)
	}
}

// TestFixturePayloads checks the capsules honour the payload size, including sizes that make
// them grow their memory.
func TestFixturePayloads(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e := &env{cfg: Config{CacheDir: t.TempDir(), Progress: io.Discard}}
	g, err := e.newRig(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := g.close(); err != nil {
			t.Error(err)
		}
	}()
	data, err := g.subscribe(ctx, "bench.data")
	if err != nil {
		t.Fatal(err)
	}
	echoed, err := g.subscribe(ctx, "t.out")
	if err != nil {
		t.Fatal(err)
	}
	echo, err := g.start(ctx, "echo", wasmEcho, []string{"t.out"}, []string{"t.in"}, map[string]string{"in": "t.in", "out": "t.out"})
	if err != nil {
		t.Fatal(err)
	}
	if err := waitReady(ctx, echo); err != nil {
		t.Fatal(err)
	}
	for i, size := range []int{1, 128, 70000, 300000} {
		pl := payload(size)
		pub, err := g.start(ctx, fmt.Sprint("pub-", i), wasmPub, []string{"bench.data"}, []string{"bench.go"},
			map[string]string{"payload": string(pl)})
		if err != nil {
			t.Fatal(err)
		}
		if err := waitReady(ctx, pub); err != nil {
			t.Fatal(err)
		}
		if _, err := g.publish("bench.go", []byte(`3`)); err != nil {
			t.Fatal(err)
		}
		if _, err := collect(ctx, data, 3, 30*time.Second, func(m *bus.Message) (int, error) {
			if !bytes.Equal(m.Payload, pl) {
				return 0, fmt.Errorf("size %d: got a payload of %d bytes", size, len(m.Payload))
			}
			return 1, nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := pub.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := g.publish("t.in", pl); err != nil {
			t.Fatal(err)
		}
		if _, err := collect(ctx, echoed, 1, 30*time.Second, func(m *bus.Message) (int, error) {
			if !bytes.Equal(m.Payload, pl) {
				return 0, fmt.Errorf("echo of size %d: got %d bytes", size, len(m.Payload))
			}
			return 1, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFixturesMatchWAT checks that every committed .wasm is what wat2wasm makes of its .wat.
func TestFixturesMatchWAT(t *testing.T) {
	wat2wasm, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Skip("wat2wasm not on PATH")
	}
	wats, err := filepath.Glob("wasm/*.wat")
	if err != nil || len(wats) == 0 {
		t.Fatalf("no WAT fixtures (%v)", err)
	}
	for _, wat := range wats {
		committed := strings.TrimSuffix(wat, ".wat") + ".wasm"
		want, err := os.ReadFile(committed)
		if err != nil {
			t.Errorf("%s has no committed .wasm: %v", wat, err)
			continue
		}
		out := filepath.Join(t.TempDir(), filepath.Base(committed))
		if b, err := exec.Command(wat2wasm, wat, "-o", out).CombinedOutput(); err != nil {
			t.Errorf("wat2wasm %s: %v\n%s", wat, err, b)
			continue
		}
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run wat2wasm %s -o %s", committed, wat, committed)
		}
	}
	wasms, _ := filepath.Glob("wasm/*.wasm")
	if len(wasms) != len(wats) {
		t.Errorf("%d .wasm files for %d .wat files", len(wasms), len(wats))
	}
}

// TestFull is the real benchmark: go test ./internal/bench -run TestFull -bench.full -v
// [-bench.scenarios pubsub,fanout] [-bench.duration 5s] [-bench.payload 1024] [-bench.subscribers 10]
// [-bench.counts 1,100] [-bench.json results.json] [-cpuprofile cpu.out] -timeout 30m.
func TestFull(t *testing.T) {
	if !*full {
		t.Skip("run with -bench.full")
	}
	cfg := Config{Progress: os.Stderr, Duration: *fullDur, PayloadBytes: *fullPay, Subscribers: *fullSubs}
	if *fullOnly != "" {
		cfg.Scenarios = strings.Split(*fullOnly, ",")
	}
	if *fullCnt != "" {
		for _, c := range strings.Split(*fullCnt, ",") {
			n, err := strconv.Atoi(c)
			if err != nil {
				t.Fatalf("-bench.counts: %v", err)
			}
			cfg.ColdStartCounts = append(cfg.ColdStartCounts, n)
		}
	}
	rs, err := Run(context.Background(), cfg)
	if werr := WriteTable(os.Stdout, rs); werr != nil {
		t.Error(werr)
	}
	if *fullJSON != "" {
		f, ferr := os.Create(*fullJSON)
		if ferr != nil {
			t.Fatal(ferr)
		}
		defer f.Close()
		if werr := WriteJSON(f, rs); werr != nil {
			t.Error(werr)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
}
