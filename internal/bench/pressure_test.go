package bench

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParsePressure(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Pressure
		str  string
		err  bool
	}{
		{in: "", want: Pressure{}, str: "none"},
		{in: "none", want: Pressure{}, str: "none"},
		{in: "cpu=4", want: Pressure{CPU: 4}, str: "cpu=4"},
		{in: "mem=512M", want: Pressure{Mem: 512 << 20}, str: "mem=512M"},
		{in: "cpu=16,mem=2G", want: Pressure{CPU: 16, Mem: 2 << 30}, str: "cpu=16,mem=2G"},
		{in: "mem=1000", want: Pressure{Mem: 1000}, str: "mem=1000"},
		{in: "cpu=-1", err: true},
		{in: "cpu=65", err: true},
		{in: "cpu=x", err: true},
		{in: "mem=12X", err: true},
		{in: "mem=-1G", err: true},
		{in: "mem=100000G", err: true}, // more than the machine
		{in: "disk=1", err: true},
		{in: "cpu", err: true},
	} {
		got, err := ParsePressure(tc.in)
		if tc.err {
			if err == nil {
				t.Errorf("ParsePressure(%q) = %+v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want || got.String() != tc.str {
			t.Errorf("ParsePressure(%q) = %+v (%q), %v; want %+v (%q)", tc.in, got, got.String(), err, tc.want, tc.str)
		}
	}
}

// pressureChildren lists the pressure processes whose parent is this process, with their RSS.
func pressureChildren(t *testing.T) map[int]uint64 {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]uint64{}
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue // gone meanwhile
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		f := strings.Fields(s[i+1:])
		if len(f) < 2 || f[1] != strconv.Itoa(os.Getpid()) || f[0] == "Z" {
			continue
		}
		dir := filepath.Dir(st)
		cmdline, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
		if !strings.Contains(string(cmdline), PressureChildCommand) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(dir))
		var rss uint64
		if statm, err := os.ReadFile(filepath.Join(dir, "statm")); err == nil {
			if g := strings.Fields(string(statm)); len(g) > 1 {
				pages, _ := strconv.ParseUint(g[1], 10, 64)
				rss = pages * uint64(os.Getpagesize())
			}
		}
		out[pid] = rss
	}
	return out
}

// progressHook calls f once on the first progress line containing s.
type progressHook struct {
	s    string
	once sync.Once
	f    func()
}

func (h *progressHook) Write(p []byte) (int, error) {
	if strings.Contains(string(p), h.s) {
		h.once.Do(h.f)
	}
	return len(p), nil
}

// TestPressure runs a scenario beside pressure processes: they run during it (the memory one
// holding its memory), every result's note names the pressure, and none is left afterwards —
// also when the run is cancelled.
func TestPressure(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	const mem = 128 << 20 // well above a child's own RSS (about 40 MB under -race)
	p := Pressure{CPU: 2, Mem: mem}
	for _, cancelled := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		var during map[int]uint64
		hook := &progressHook{s: ScenarioRestart + ": start", f: func() {
			during = pressureChildren(t)
			if cancelled {
				cancel()
			}
		}}
		rs, err := Run(ctx, Config{Scenarios: []string{ScenarioRestart}, Duration: 50 * time.Millisecond,
			Pressure: p, Executable: os.Args[0], Progress: hook})
		cancel()
		if cancelled != (err != nil) {
			t.Fatalf("cancelled %v: Run: %v", cancelled, err)
		}
		if len(during) != 3 {
			t.Errorf("cancelled %v: %d pressure processes during the run (%v), want 3", cancelled, len(during), during)
		}
		held := 0
		for _, rss := range during {
			if rss >= mem {
				held++
			}
		}
		if held != 1 {
			t.Errorf("cancelled %v: %d processes hold %d bytes (%v), want 1", cancelled, held, mem, during)
		}
		if left := pressureChildren(t); len(left) != 0 {
			t.Errorf("cancelled %v: pressure processes left after Run: %v", cancelled, left)
		}
		for _, r := range rs {
			if !strings.Contains(r.Note, "beside pressure cpu=2,mem=128M") {
				t.Errorf("%s %s: note %q does not name the pressure", r.Scenario, r.Metric, r.Note)
			}
		}
		if !cancelled && len(rs) == 0 {
			t.Error("no results")
		}
	}
}
