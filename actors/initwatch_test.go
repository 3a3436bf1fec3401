package actors

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/astrid-actors/astrid-actors/supervision"
)

// A hostile initializer (an _initialize or a wasm start function that spins without calling
// the host) is stopped by the watchdog or by the ready timeout, as a crash: the policy
// applies (one restart, then failed) and the reason names the initialization.
func TestSpinningInitializerIsStopped(t *testing.T) {
	off := &supervision.Watchdog{}
	short := &supervision.Watchdog{Window: 20 * time.Millisecond, Windows: 3}
	tests := []struct {
		name, wasm   string
		watchdog     *supervision.Watchdog
		readyTimeout time.Duration
		wantReason   string
	}{
		{"_initialize, watchdog", "testdata/wat/initspin.wasm", short, 0, "did not return or yield for 60ms"},
		{"_initialize, ready timeout", "testdata/wat/initspin.wasm", off, 100 * time.Millisecond, "did not finish within the ready timeout 100ms"},
		{"start function, watchdog", "testdata/wat/startspin.wasm", short, 0, "did not return or yield for 60ms"},
		{"start function, ready timeout", "testdata/wat/startspin.wasm", off, 100 * time.Millisecond, "did not finish within the ready timeout 100ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRuntime(t)
			evs := events(t, r)
			c := startCapsule(t, r, CapsuleSpec{ID: "spinner", Module: compile(t, r, tt.wasm), Policy: policy(1),
				Watchdog: tt.watchdog, ReadyTimeout: tt.readyTimeout})
			waitDone(t, c)
			st := c.Status()
			if st.State != StateFailed || st.Instances != 2 || !strings.Contains(st.LastError, "restart intensity exceeded") ||
				!strings.Contains(st.LastError, tt.wantReason) {
				t.Fatalf("status %+v, want failed after 2 instances with %q", st, tt.wantReason)
			}
			var crashes int
			for _, e := range evs() {
				if e.topic == TopicCrashed && e.CapsuleID == "spinner" {
					crashes++
					if !strings.Contains(e.Reason, "watchdog: instantiation and _initialize") {
						t.Errorf("crash reason %q", e.Reason)
					}
				}
			}
			if crashes != 2 || count(evs(), TopicHealthFailed, "spinner") != 2 {
				t.Fatalf("%d crashed and %d health.failed events, want 2 and 2", crashes, count(evs(), TopicHealthFailed, "spinner"))
			}
		})
	}
}

// The manifest's ready_timeout bounds _initialize when loading: Load does not hang on a
// spinning initializer, the capsule is reported not ready and fails by its policy.
func TestLoadStopsSpinningInitializer(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "initspin.wasm"), readWasm(t, "testdata/wat/initspin.wasm"), 0o644); err != nil {
		t.Fatal(err)
	}
	toml := `[package]
name = "initspin"
version = "1.0.0"

[[component]]
id = "main"
file = "initspin.wasm"

[supervision]
max_restarts = 1
backoff_initial = "0s"
ready_timeout = "150ms"
`
	if err := os.WriteFile(filepath.Join(dir, "Capsule.toml"), []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newRuntime(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rep, err := r.Load(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.NotReady) != 1 {
		t.Fatalf("report %+v, want initspin not ready", rep)
	}
	c := r.Capsule("initspin")
	waitDone(t, c)
	if st := c.Status(); st.State != StateFailed || !strings.Contains(st.LastError, "ready timeout 150ms") {
		t.Fatalf("status %+v", st)
	}
}
