package actors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/internal/capsuleactor"
	"github.com/astrid-actors/astrid-actors/supervision"
)

func TestEchoCapsuleRoundTrip(t *testing.T) {
	r := newRuntime(t)
	out := hostSubscribe(t, r, "echo.out")
	c := startCapsule(t, r, CapsuleSpec{
		ID:     "echo",
		Module: compile(t, r, "testdata/wat/echo.wasm"),
		Grants: grants([]string{"echo.out"}, []string{"echo.in"}),
	})
	waitReady(t, c)
	inst := c.Status().InstanceID
	for i := range 5 {
		if _, err := r.Bus().Publish("echo.in", []byte(fmt.Sprintf(`{"n":%d}`, i)), uuid.Nil, bus.Verified("alice")); err != nil {
			t.Fatal(err)
		}
	}
	got := receive(t, out, 5, 10*time.Second)
	for i, m := range got {
		if string(m.Payload) != fmt.Sprintf(`{"n":%d}`, i) {
			t.Errorf("message %d payload %s", i, m.Payload)
		}
		if m.Source != inst {
			t.Errorf("source %v, want instance %v", m.Source, inst)
		}
		if m.Principal != bus.Verified("alice") {
			t.Errorf("principal %v, want the caller's verified(alice)", m.Principal)
		}
	}
	// The publish counter is incremented after the bus delivered the message, so the last
	// echo may be received a moment before it is counted.
	checkFor(t, 20*time.Second, "5 publishes counted", func() bool { return c.Status().Published == 5 })
	if st := c.Status(); st.State != StateReady || st.Instances != 1 || st.Delivered != 5 || st.Dropped != 0 {
		t.Fatalf("status %+v", st)
	}
}

func TestStopWhileBlockedInRecv(t *testing.T) {
	r := newRuntime(t)
	mod := compile(t, r, "testdata/wat/blockrecv.wasm")
	var durations []time.Duration
	for i := range 5 {
		c := startCapsule(t, r, CapsuleSpec{ID: fmt.Sprint("block-", i), Module: mod, Grants: grants(nil, []string{"block.*"})})
		waitReady(t, c)
		waitYielding(t, c, 0, true) // the guest is in recv
		start := time.Now()
		if err := c.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		durations = append(durations, time.Since(start))
		if st := c.Status(); st.State != StateStopped {
			t.Fatalf("state after stop = %v", st.State)
		}
	}
	slices.Sort(durations)
	t.Logf("stop while blocked in recv: %v", durations)
	// The guest's recv would block for 60 s, and a stop abandons a guest that does not end
	// after capsuleactor.ShutdownGrace (5 s): well under a second means the cancellation woke the recv.
	// (Typically well under 10 ms; the bound is loose so that a loaded machine passes.)
	if median := durations[len(durations)/2]; median >= time.Second {
		t.Fatalf("median stop took %v, want < 1s (all: %v)", median, durations)
	}
	if n := r.Bus().Stats().Subscriptions; n != 0 {
		t.Fatalf("%d subscriptions left after stops", n)
	}
}

func TestStopSpinningGuest(t *testing.T) {
	r := newRuntime(t)
	c := startCapsule(t, r, CapsuleSpec{ID: "spin", Module: compile(t, r, "testdata/wat/spin.wasm")})
	waitReady(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// A loop that was not interrupted would be abandoned after capsuleactor.ShutdownGrace.
	if took := time.Since(start); took >= capsuleactor.ShutdownGrace {
		t.Fatalf("stop took %v: the loop was not interrupted (grace %v)", took, capsuleactor.ShutdownGrace)
	}
}

func TestNormalExitOfTransientCapsuleEndsIt(t *testing.T) {
	r := newRuntime(t)
	policy := supervision.DefaultPolicy()
	policy.Restart = supervision.Transient
	c := startCapsule(t, r, CapsuleSpec{ID: "exit", Module: compile(t, r, "testdata/wat/exit.wasm"), Policy: &policy})
	waitDone(t, c)
	if st := c.Status(); st.State != StateExited || st.LastError != "" || st.Instances != 1 {
		t.Fatalf("status after a normal exit: %+v", st)
	}
}

func TestCompileRejectsBadModules(t *testing.T) {
	r := newRuntime(t)
	tests := []struct {
		name string
		wasm []byte
		want string
	}{
		{"not wasm", []byte("hello"), "compile"},
		{"empty", nil, "compile"},
		{"unknown import", readWasm(t, "testdata/wat/badimport.wasm"), `imports env.whatever from module "env"`},
		{"unknown WASI function", readWasm(t, "testdata/wat/badwasi.wasm"), `wasi_snapshot_preview1.no_such_call, which WASI preview 1 does not define`},
		{"publish-batch from ipc 1.0.0", readWasm(t, "testdata/wat/badbatch.wasm"), `imports astrid:ipc@1.0.0.publish-batch`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Compile(context.Background(), tt.wasm)
			if !errors.Is(err, ErrInvalidModule) {
				t.Fatalf("err = %v, want ErrInvalidModule", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %q, want it to mention %q", err, tt.want)
			}
		})
	}
}

// TestWasmFanOutDeliversEverything runs the benchmark capsules on a small scale: one WASM
// publisher, three WASM subscribers, every message received or counted.
func TestWasmFanOutDeliversEverything(t *testing.T) {
	r := newRuntime(t)
	const n, sinks = 3000, 3
	done := hostSubscribe(t, r, "bench.done")
	var caps []*Capsule
	for i := range sinks {
		caps = append(caps, startCapsule(t, r, CapsuleSpec{
			ID: fmt.Sprint("sink-", i), Module: compile(t, r, "testdata/wat/benchsink.wasm"), Limits: benchLimits,
			Grants: grants([]string{"bench.done"}, []string{"bench.data"}),
			Config: map[string]string{"n": fmt.Sprint(n)},
		}))
	}
	caps = append(caps, startCapsule(t, r, CapsuleSpec{
		ID: "pub", Module: compile(t, r, "testdata/wat/benchpub.wasm"), Limits: benchLimits,
		Grants: grants([]string{"bench.data"}, []string{"bench.go"}),
	}))
	for _, c := range caps {
		waitReady(t, c)
	}
	if _, err := r.Bus().Publish("bench.go", []byte(fmt.Sprint(n)), uuid.Nil, bus.System()); err != nil {
		t.Fatal(err)
	}
	for _, m := range receive(t, done, sinks, 30*time.Second) {
		if string(m.Payload) != "0" {
			t.Errorf("a sink reported %s dropped messages", m.Payload)
		}
	}
}
