package capsuletest_test

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/astrid-actors/astrid-actors/actors"
	"github.com/astrid-actors/astrid-actors/capsuletest"
	"github.com/astrid-actors/astrid-actors/hostfuncs"
	"github.com/astrid-actors/astrid-actors/supervision"
)

func TestMain(m *testing.M) { capsuletest.Main(m) }

func TestLoadPublishExpect(t *testing.T) {
	h := capsuletest.New(t, capsuletest.Options{})
	caps := h.Load("../testdata/capsules/echo")
	if len(caps) != 1 || caps[0].ID() != "echo" {
		t.Fatalf("loaded %v", caps)
	}
	out := h.Subscribe("echo.out")
	h.Publish("echo.in", `{"n":1}`)
	h.PublishJSON("echo.in", map[string]int{"n": 2})
	got := out.ExpectPayloads(`{"n":1}`, `{"n":2}`)
	if got[0].Principal != capsuletest.DefaultPrincipal || got[0].Source != caps[0].Status().InstanceID {
		t.Errorf("echo.out from %v as %v, want from echo as %v", got[0].Source, got[0].Principal, capsuletest.DefaultPrincipal)
	}
	var v struct{ N int }
	h.Publish("echo.in", `{"n":3}`)
	if out.ExpectJSON(&v); v.N != 3 {
		t.Errorf("decoded %+v", v)
	}
	h.ExpectEvent(actors.TopicCapsulesLoaded, "")
}

func TestStartWatAndEvents(t *testing.T) {
	h := capsuletest.New(t, capsuletest.Options{})
	policy := supervision.DefaultPolicy()
	policy.Restart = supervision.Temporary
	c := h.Start("../testdata/wat/crashy.wat", actors.CapsuleSpec{ID: "crashy", Policy: &policy,
		Grants: hostfuncs.Grants{Subscribe: []string{"crash.now"}}})
	h.Publish("crash.now", `1`)
	e := h.ExpectEvent(actors.TopicCrashed, "crashy")
	if e.InstanceID != c.Status().InstanceID.String() || !strings.Contains(e.Reason, "unreachable") {
		t.Errorf("crashed event %v", e)
	}
	h.WaitState(c, actors.StateExited)
}

// recorder is a TB whose Fatalf ends the calling goroutine, like testing.T's, and records the
// failure, so the harness's own failures can be tested.
type recorder struct {
	mu       sync.Mutex
	failures []string
	cleanups []func()
}

func (r *recorder) Helper() {}
func (r *recorder) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}
func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...); runtime.Goexit() }

// run calls f on a goroutine of its own (Fatalf ends it), then the cleanups, and returns the
// failures.
func (r *recorder) run(f func()) []string {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	return r.failures
}

func TestFailures(t *testing.T) {
	for _, tt := range []struct {
		name string
		f    func(h *capsuletest.Harness)
		want string
	}{
		{"nothing arrives", func(h *capsuletest.Harness) { h.Subscribe("none").Expect(1) },
			"none: received 0 of 1 messages within 50ms"},
		{"another payload", func(h *capsuletest.Harness) {
			in := h.Subscribe("x")
			h.Publish("x", `1`)
			in.ExpectPayloads(`2`)
		}, "x: message 0 is 1 on x, want 2"},
		{"no event", func(h *capsuletest.Harness) { h.ExpectEvent(actors.TopicFailed, "nobody") },
			`no event astrid.v1.capsule.failed for "nobody" within 50ms`},
		{"condition never holds", func(h *capsuletest.Harness) { h.WaitFor("never", func() bool { return false }) },
			"timed out after 50ms waiting for never"},
		{"bad module", func(h *capsuletest.Harness) {
			h.Start("../testdata/wat/badimport.wat", actors.CapsuleSpec{ID: "bad"})
		}, "invalid capsule module"},
		{"bad directory", func(h *capsuletest.Harness) { h.Load("../testdata/capsules/broken") }, "capsuletest: load"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{}
			failures := r.run(func() { tt.f(capsuletest.New(r, capsuletest.Options{Timeout: 50 * time.Millisecond})) })
			if len(failures) == 0 || !strings.Contains(strings.Join(failures, "\n"), tt.want) {
				t.Errorf("failures %q, want one containing %q", failures, tt.want)
			}
		})
	}
}
