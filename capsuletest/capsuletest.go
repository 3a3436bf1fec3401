// Package capsuletest tests capsules under the real runtime in a few lines: start a runtime,
// load a capsule (a directory with a Capsule.toml, or a .wasm/.wat file with a spec), publish,
// and expect messages and lifecycle events. Every wait is bounded by a timeout and ends as
// soon as its condition holds; nothing sleeps. The runtime is closed when the test ends.
//
//	func TestMain(m *testing.M) { capsuletest.Main(m) } // goleak after all tests
//
//	func TestPong(t *testing.T) {
//		h := capsuletest.New(t, capsuletest.Options{})
//		h.Load("capsules/pong")
//		pongs := h.Subscribe("demo.pong")
//		h.Publish("demo.ping", `{"n":1}`)
//		pongs.ExpectPayloads(`{"n":1,"from":"pong"}`)
//	}
package capsuletest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/astrid-actors/astrid-actors/actors"
	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/internal/leakcheck"
)

// DefaultTimeout bounds every wait of a Harness whose Options.Timeout is zero.
const DefaultTimeout = 20 * time.Second

// DefaultPrincipal is who Harness.Publish publishes as when Options.Principal is zero.
var DefaultPrincipal = bus.Verified("capsuletest")

// Main runs the tests of a package and then fails the binary if any goroutine leaked (goleak,
// ignoring only protoactor-go's own short-lived dead-letter throttle). Call it from TestMain.
func Main(m *testing.M) { goleak.VerifyTestMain(m, leakcheck.Options()...) }

// VerifyNone fails t if goroutines other than the test's own are still running; for a test
// (or a deferred check) in a package whose TestMain cannot use Main.
func VerifyNone(t TB) {
	t.Helper()
	if err := goleak.Find(leakcheck.Options()...); err != nil {
		t.Errorf("capsuletest: leaked goroutines: %v", err)
	}
}

// TB is the part of testing.TB a Harness uses; *testing.T and *testing.B implement it.
type TB interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Options configure a Harness. The zero value is valid.
type Options struct {
	// Runtime configures the runtime under test (zero: the defaults, logs discarded).
	Runtime actors.Options
	// Timeout bounds each wait (DefaultTimeout when zero).
	Timeout time.Duration
	// Principal is who Publish publishes as (DefaultPrincipal when zero).
	Principal bus.Principal
}

// Harness is one runtime under test with the helpers to drive it. Its methods fail the test
// (Fatalf) on any error, so they must be called from the test's goroutine.
type Harness struct {
	t         TB
	rt        *actors.Runtime
	timeout   time.Duration
	principal bus.Principal

	events  <-chan actors.Event
	mu      sync.Mutex
	backlog []actors.Event // events received but not expected yet
}

// New starts a runtime and subscribes to its lifecycle events (so ExpectEvent sees every event
// from now on). The runtime is closed, all its capsules stopped, when the test ends.
func New(t TB, opts Options) *Harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rt, err := actors.New(ctx, opts.Runtime)
	if err != nil {
		cancel()
		t.Fatalf("capsuletest: start runtime: %v", err)
	}
	h := &Harness{t: t, rt: rt, timeout: opts.Timeout, principal: opts.Principal}
	if h.timeout <= 0 {
		h.timeout = DefaultTimeout
	}
	if h.principal == (bus.Principal{}) {
		h.principal = DefaultPrincipal
	}
	t.Cleanup(func() {
		cancel()
		closeCtx, done := context.WithTimeout(context.Background(), h.timeout)
		defer done()
		if err := rt.Close(closeCtx); err != nil {
			t.Errorf("capsuletest: close runtime: %v", err)
		}
	})
	if h.events, err = rt.Events(ctx); err != nil {
		t.Fatalf("capsuletest: events: %v", err)
	}
	return h
}

// Runtime returns the runtime under test, for what the helpers do not cover.
func (h *Harness) Runtime() *actors.Runtime { return h.rt }

// ctx is a context bounded by the harness timeout.
func (h *Harness) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), h.timeout)
}

// Load loads the capsules of dirs (directories holding a Capsule.toml and its wasm, searched
// recursively as by Runtime.Load) and returns them in load order. Any capsule that fails to
// load or to signal ready fails the test.
func (h *Harness) Load(dirs ...string) []*actors.Capsule {
	h.t.Helper()
	ctx, cancel := h.ctx()
	defer cancel()
	rep, err := h.rt.Load(ctx, dirs...)
	if err != nil {
		h.t.Fatalf("capsuletest: load %s: %v", strings.Join(dirs, ", "), err)
	}
	for _, err := range rep.Errors {
		h.t.Errorf("capsuletest: load: %v", err)
	}
	if len(rep.Errors) > 0 || len(rep.NotReady) > 0 || len(rep.Started) == 0 {
		h.t.Fatalf("capsuletest: load %s: started %v, not ready %v, %d error(s)",
			strings.Join(dirs, ", "), rep.Started, rep.NotReady, len(rep.Errors))
	}
	out := make([]*actors.Capsule, 0, len(rep.Started))
	for _, id := range rep.Started {
		out = append(out, h.rt.Capsule(id))
	}
	return out
}

// Start compiles the module at path and starts it with spec (whose Module is set from the
// file). A path ending in .wat stands for the .wasm built from it (with wat2wasm) next to it.
// Start waits until a run-loop capsule signals ready.
func (h *Harness) Start(path string, spec actors.CapsuleSpec) *actors.Capsule {
	h.t.Helper()
	if p, ok := strings.CutSuffix(path, ".wat"); ok {
		path = p + ".wasm"
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		h.t.Fatalf("capsuletest: %v", err)
	}
	return h.StartWasm(wasm, spec)
}

// StartWasm is Start with the module's bytes.
func (h *Harness) StartWasm(wasm []byte, spec actors.CapsuleSpec) *actors.Capsule {
	h.t.Helper()
	// Compiling is not bounded by the timeout: a large Go guest compiles for many seconds
	// on a loaded machine (once; the engine's cache, if configured, keeps the result).
	mod, err := h.rt.Compile(context.Background(), wasm)
	if err != nil {
		h.t.Fatalf("capsuletest: capsule %s: %v", spec.ID, err)
	}
	spec.Module = mod
	ctx, cancel := h.ctx()
	defer cancel()
	c, err := h.rt.Start(ctx, spec)
	if err != nil {
		h.t.Fatalf("capsuletest: %v", err)
	}
	if mod.Entry() != actors.EntryNone {
		if err := c.WaitReady(ctx); err != nil {
			h.t.Fatalf("capsuletest: %v", err)
		}
	}
	return c
}

// Publish publishes payload, JSON text, on topic as the harness principal.
func (h *Harness) Publish(topic, payload string) {
	h.t.Helper()
	ctx, cancel := h.ctx()
	defer cancel()
	if _, err := h.rt.Publish(ctx, topic, []byte(payload), h.principal); err != nil {
		h.t.Fatalf("capsuletest: publish %s: %v", topic, err)
	}
}

// PublishJSON publishes v, encoded with encoding/json, on topic as the harness principal.
func (h *Harness) PublishJSON(topic string, v any) {
	h.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		h.t.Fatalf("capsuletest: publish %s: %v", topic, err)
	}
	h.Publish(topic, string(b))
}

// Inbox is a host-side subscription of a Harness: what capsules publish on its pattern queues
// there until an Expect takes it.
type Inbox struct {
	h       *Harness
	sub     *bus.Subscription
	pending []*bus.Message
	dropped uint64
}

// Subscribe subscribes to pattern (a route pattern, see Runtime.Subscribe) from now on; the
// subscription is closed when the test ends.
func (h *Harness) Subscribe(pattern string) *Inbox {
	h.t.Helper()
	ctx, cancel := h.ctx()
	defer cancel()
	s, err := h.rt.Subscribe(ctx, pattern)
	if err != nil {
		h.t.Fatalf("capsuletest: subscribe %s: %v", pattern, err)
	}
	h.t.Cleanup(func() { _ = s.Close(context.Background()) })
	return &Inbox{h: h, sub: s}
}

// Expect waits until n messages have arrived and returns them, oldest first (more that arrived
// stay for the next Expect). It fails the test when the timeout passes first, or when the
// inbox's mailbox dropped messages.
func (in *Inbox) Expect(n int) []*bus.Message {
	in.h.t.Helper()
	deadline := time.Now().Add(in.h.timeout)
	for len(in.pending) < n {
		left := time.Until(deadline)
		if left <= 0 {
			in.h.t.Fatalf("capsuletest: %s: received %d of %d messages within %v", in.sub.Pattern(), len(in.pending), n, in.h.timeout)
			return nil
		}
		b, err := in.sub.Recv(context.Background(), left)
		if err != nil {
			in.h.t.Fatalf("capsuletest: %s: %v", in.sub.Pattern(), err)
			return nil
		}
		in.pending = append(in.pending, b.Messages...)
		in.dropped += b.Dropped
	}
	if in.dropped > 0 {
		in.h.t.Fatalf("capsuletest: %s: %d message(s) dropped by the inbox's mailbox", in.sub.Pattern(), in.dropped)
	}
	out := in.pending[:n:n]
	in.pending = in.pending[n:]
	return out
}

// ExpectPayloads waits for len(want) messages and fails the test unless their payloads are
// want, in order, byte for byte.
func (in *Inbox) ExpectPayloads(want ...string) []*bus.Message {
	in.h.t.Helper()
	got := in.Expect(len(want))
	for i, m := range got {
		if string(m.Payload) != want[i] {
			in.h.t.Errorf("capsuletest: %s: message %d is %s on %s, want %s", in.sub.Pattern(), i, m.Payload, m.Topic, want[i])
		}
	}
	return got
}

// ExpectJSON waits for one message and decodes its payload into v.
func (in *Inbox) ExpectJSON(v any) *bus.Message {
	in.h.t.Helper()
	m := in.Expect(1)[0]
	if err := json.Unmarshal(m.Payload, v); err != nil {
		in.h.t.Fatalf("capsuletest: %s: payload %s: %v", in.sub.Pattern(), m.Payload, err)
	}
	return m
}

// Stats returns the inbox's mailbox counters.
func (in *Inbox) Stats() bus.MailboxStats { return in.sub.Stats() }

// ExpectEvent waits for the next lifecycle event with topic (one of the actors.Topic*
// constants) about capsule id (any capsule when id is ""), and returns it. Events that do not
// match are kept, in order, for later ExpectEvent calls.
func (h *Harness) ExpectEvent(topic, id string) actors.Event {
	h.t.Helper()
	match := func(e actors.Event) bool { return e.Topic == topic && (id == "" || e.CapsuleID == id) }
	h.mu.Lock()
	for i, e := range h.backlog {
		if match(e) {
			h.backlog = append(h.backlog[:i], h.backlog[i+1:]...)
			h.mu.Unlock()
			return e
		}
	}
	h.mu.Unlock()
	timer := time.NewTimer(h.timeout)
	defer timer.Stop()
	for {
		select {
		case e, ok := <-h.events:
			if !ok {
				h.t.Fatalf("capsuletest: event %s for %q: the runtime closed", topic, id)
				return actors.Event{}
			}
			if match(e) {
				return e
			}
			h.mu.Lock()
			h.backlog = append(h.backlog, e)
			h.mu.Unlock()
		case <-timer.C:
			h.t.Fatalf("capsuletest: no event %s for %q within %v (others seen: %v)", topic, id, h.timeout, h.seen())
			return actors.Event{}
		}
	}
}

func (h *Harness) seen() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, e := range h.backlog {
		out = append(out, e.Topic+" "+e.CapsuleID)
	}
	return out
}

// WaitFor waits until cond holds, checking it every millisecond, and fails the test when the
// timeout passes first. what describes the condition in the failure.
func (h *Harness) WaitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.NewTimer(h.timeout)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			h.t.Fatalf("capsuletest: timed out after %v waiting for %s", h.timeout, what)
			return
		}
	}
}

// WaitState waits until capsule c is in state want.
func (h *Harness) WaitState(c *actors.Capsule, want actors.State) {
	h.t.Helper()
	h.WaitFor(fmt.Sprintf("capsule %s %s", c.ID(), want), func() bool { return c.Status().State == want })
}
