package actors

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/hostfuncs"
	"github.com/astrid-actors/astrid-actors/internal/leakcheck"
	"github.com/astrid-actors/astrid-actors/internal/testguests"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakcheck.Options()...)
}

// testCacheDir is shared by every runtime of every test binary of the module (and, with -race,
// filled by testguests' helper built without -race), so Go guests compile once.
var testCacheDir = testguests.CacheDir()

func newRuntime(t testing.TB) *Runtime {
	t.Helper()
	var log *zap.Logger
	if tt, ok := t.(*testing.T); ok && testing.Verbose() {
		log = zaptest.NewLogger(tt)
	}
	return newRuntimeWithLogger(t, log)
}

// newRuntimeWithLogger starts a runtime logging to log and closes it when the test ends.
func newRuntimeWithLogger(t testing.TB, log *zap.Logger) *Runtime {
	t.Helper()
	return newRuntimeWithClock(t, log, nil)
}

// skewClock is the real clock plus an offset that a test advances: a rate-limit window (read
// from the runtime's Clock) passes without waiting for it.
type skewClock struct{ offset atomic.Int64 }

// Now implements Options.Clock.
func (c *skewClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// Advance moves the clock forward by d.
func (c *skewClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// newRuntimeWithClock is newRuntimeWithLogger with the runtime's Clock set to clock.Now (the
// real clock when clock is nil).
func newRuntimeWithClock(t testing.TB, log *zap.Logger, clock *skewClock) *Runtime {
	t.Helper()
	opts := Options{Logger: log}
	if clock != nil {
		opts.Clock = clock.Now
	}
	return newRuntimeWith(t, opts)
}

// newRuntimeWith starts a runtime with opts (the shared test compilation cache unless opts
// names one) and closes it when the test ends.
func newRuntimeWith(t testing.TB, opts Options) *Runtime {
	t.Helper()
	if opts.Engine.CacheDir == "" {
		opts.Engine.CacheDir = testCacheDir
	}
	r, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Errorf("close runtime: %v", err)
		}
	})
	return r
}

func readWasm(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func compile(t testing.TB, r *Runtime, path string) *Module {
	t.Helper()
	m, err := r.Compile(context.Background(), readWasm(t, path))
	if err != nil {
		t.Fatalf("compile %s: %v", path, err)
	}
	return m
}

func startCapsule(t testing.TB, r *Runtime, spec CapsuleSpec) *Capsule {
	t.Helper()
	c, err := r.Start(context.Background(), spec)
	if err != nil {
		t.Fatalf("start %s: %v", spec.ID, err)
	}
	return c
}

func waitReady(t testing.TB, c *Capsule) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
}

func hostSubscribe(t testing.TB, r *Runtime, pattern string) *bus.Subscription {
	t.Helper()
	s, err := r.Bus().Subscribe(context.Background(), pattern, bus.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// receive waits for n messages on s.
func receive(t testing.TB, s *bus.Subscription, n int, timeout time.Duration) []*bus.Message {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var out []*bus.Message
	for len(out) < n {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("received %d of %d messages on %s", len(out), n, s.Pattern())
		}
		if _, err := s.Mailbox().Wait(context.Background(), left); err != nil {
			t.Fatal(err)
		}
		out = append(out, s.Mailbox().Drain(nil, 1<<20, func(*bus.Message) bool { return true }).Messages...)
	}
	return out
}

// checkFor polls cond until it holds or the timeout passes.
func checkFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(time.Millisecond)
	}
}

func grants(pub, sub []string) hostfuncs.Grants {
	return hostfuncs.Grants{Publish: pub, Subscribe: sub}
}

// waitYielding waits until the capsule's current instance is (want true) or is not (want false)
// inside a yielding host call (a blocking recv or wait, a sleep) after at least delivered
// messages were delivered to the capsule in all: pass 1 + Status().Delivered read before
// sending a command to wait until the capsule has taken it and then blocks (or runs).
func waitYielding(t testing.TB, c *Capsule, delivered uint64, want bool) {
	t.Helper()
	checkFor(t, 10*time.Second, fmt.Sprintf("capsule %s yielding = %v", c.ID(), want), func() bool {
		c.mu.Lock()
		h := c.host
		c.mu.Unlock()
		return h != nil && c.Status().Delivered >= delivered && h.Yielding() == want
	})
}
