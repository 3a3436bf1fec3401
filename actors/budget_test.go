package actors

import (
	"context"
	"errors"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/astrid-actors/astrid-actors/internal/procstat"
	"github.com/astrid-actors/astrid-actors/supervision"
)

// newBudgetRuntime starts a runtime with a host memory budget of limit bytes.
func newBudgetRuntime(t *testing.T, limit uint64) *Runtime {
	t.Helper()
	return newRuntimeWith(t, Options{MaxMemoryBytes: limit})
}

// A capsule whose memory limit does not fit the host budget is refused with a clear error;
// stopping a capsule, or its failing, gives its reservation back.
func TestMemoryBudgetRefusesWhatDoesNotFit(t *testing.T) {
	r := newBudgetRuntime(t, 160<<20)
	echo := compile(t, r, "testdata/wat/echo.wasm")
	spec := func(id string, pages uint32) CapsuleSpec {
		return CapsuleSpec{ID: id, Module: echo, Limits: Limits{MemoryPages: pages},
			Grants: grants([]string{"echo.out"}, []string{"echo.in"})}
	}
	a := startCapsule(t, r, spec("a", 1024)) // 64 MiB
	startCapsule(t, r, spec("b", 1024))      // 128 MiB
	_, err := r.Start(context.Background(), spec("c", 1024))
	if !errors.Is(err, ErrMemoryBudget) {
		t.Fatalf("third capsule: %v, want ErrMemoryBudget", err)
	}
	for _, want := range []string{"capsule c", "memory limit 64 MiB does not fit", "128 MiB of 160 MiB reserved by 2 capsule(s)", "--max-memory"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if r.Capsule("c") != nil {
		t.Fatal("the refused capsule is listed")
	}
	if b := r.MemoryBudget(); b.Reserved != 128<<20 || b.Capsules != 2 || b.Limit != 160<<20 {
		t.Fatalf("budget %+v", b)
	}
	small := startCapsule(t, r, spec("small", 512)) // 32 MiB still fits exactly
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	startCapsule(t, r, spec("c", 1024))
	if err := small.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A capsule that fails stays listed but holds no memory: its reservation is returned.
	before := r.MemoryBudget().Reserved
	crash := startCapsule(t, r, CapsuleSpec{ID: "trap", Module: compile(t, r, "testdata/wat/trap.wasm"),
		Limits: Limits{MemoryPages: 16}, Policy: policy(0)})
	waitDone(t, crash)
	if st := crash.Status(); st.State != StateFailed {
		t.Fatalf("trap status %+v", st)
	}
	checkFor(t, 5*time.Second, "the failed capsule's reservation to be returned", func() bool {
		return r.MemoryBudget().Reserved == before
	})
}

// TestDefaultMemoryBudget: the default is half of the memory available, never zero.
func TestDefaultMemoryBudget(t *testing.T) {
	def := DefaultMaxMemoryBytes()
	if total := physicalMemory(); total > 0 {
		if def > total/2 || def == 0 {
			t.Fatalf("default budget %d with %d bytes of RAM", def, total)
		}
	} else if def != FallbackMaxMemoryBytes {
		t.Fatalf("default budget %d without /proc/meminfo", def)
	}
}

// A crash-looping capsule that fills 256 MiB of memory and traps, three times: the host's RSS
// is back within 10 % of its baseline within 5 s of the capsule failing.
func TestClosedInstanceMemoryReturnsToOS(t *testing.T) {
	if _, ok := procstat.RSS(); !ok {
		t.Skip("no /proc/self/statm")
	}
	const pages = 4096 // 256 MiB
	r := newBudgetRuntime(t, 1<<30)
	mod := compile(t, r, "testdata/wat/fillmem.wasm")
	runtime.GC()
	debug.FreeOSMemory()
	baseline, _ := procstat.RSS()
	peakReset := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil // resets VmHWM
	c := startCapsule(t, r, CapsuleSpec{ID: "fillmem", Module: mod, Limits: Limits{MemoryPages: pages},
		Policy: &supervision.Policy{Restart: supervision.Permanent, MaxRestarts: 2, Within: time.Minute}})
	waitDone(t, c)
	st := c.Status()
	if st.State != StateFailed || st.Instances != 3 || !strings.Contains(st.LastError, "unreachable") {
		t.Fatalf("status %+v, want failed after 3 instances that trapped", st)
	}
	failed := time.Now()
	if peak, ok := readPeakRSS(); ok && peakReset && peak < baseline+200<<20 {
		t.Fatalf("peak RSS %d MiB over a baseline of %d MiB: the guest did not fill its memory", peak>>20, baseline>>20)
	}
	var rss uint64
	checkFor(t, time.Until(failed.Add(5*time.Second)), "RSS back within 10 % of its baseline 5 s after the capsule failed", func() bool {
		rss, _ = procstat.RSS()
		return float64(rss) <= 1.1*float64(baseline)
	})
	t.Logf("RSS %d MiB, baseline %d MiB, %v after the capsule failed", rss>>20, baseline>>20, time.Since(failed).Round(time.Millisecond))
}

// readPeakRSS returns VmHWM from /proc/self/status.
func readPeakRSS() (uint64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}
