package actors

import (
	"context"
	"errors"
	"flag"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/astrid-actors/astrid-actors/bus"
)

var hammerFor = flag.Duration("hammer.duration", 2*time.Second, "how long TestHammerLifecycle runs")

func hammerDuration() time.Duration { return *hammerFor }

// hammerSpec is a cheap real capsule: echo.wasm subscribes "echo.in" and republishes.
func hammerSpec(mod *Module, id string) CapsuleSpec {
	return CapsuleSpec{ID: id, Module: mod, Grants: grants([]string{"echo.out"}, []string{"echo.in"}), Policy: policy(1000)}
}

// capsuleSet remembers every capsule handle a test created.
type capsuleSet struct {
	mu   sync.Mutex
	caps []*Capsule
}

func (s *capsuleSet) add(c *Capsule) {
	s.mu.Lock()
	s.caps = append(s.caps, c)
	s.mu.Unlock()
}

// checkBalanced fails unless every capsule's ledger has no open mailbox left and balances.
func (s *capsuleSet) checkBalanced(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.caps {
		if n := c.ledger.Live(); n != 0 {
			t.Errorf("capsule %s: %d subscriptions still open after its stop", c.ID(), n)
		}
		if st := c.Status(); st.Unaccounted() != 0 || st.Queued != 0 {
			t.Errorf("capsule %s: traffic %+v after its stop", c.ID(), st.Traffic)
		}
	}
}

// hammer runs lifecycle and bus calls on r from many goroutines until stop is closed. Errors
// that a concurrent call explains (duplicate, not found, closed) are expected; anything else
// fails the test.
func hammer(t *testing.T, r *Runtime, mod *Module, set *capsuleSet, stop <-chan struct{}, seed uint64) *sync.WaitGroup {
	ids := []string{"h0", "h1", "h2"}
	expected := func(err error) bool {
		return err == nil || errors.Is(err, ErrDuplicate) || errors.Is(err, ErrNotFound) ||
			errors.Is(err, ErrRuntimeClosed) || errors.Is(err, bus.ErrClosed) || errors.Is(err, context.Canceled)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(g)))
			ctx := context.Background()
			for {
				select {
				case <-stop:
					return
				default:
				}
				id := ids[rng.IntN(len(ids))]
				var err error
				switch rng.IntN(7) {
				case 0, 1:
					var c *Capsule
					if c, err = r.Start(ctx, hammerSpec(mod, id)); err == nil {
						set.add(c)
					}
				case 2:
					if c := r.Capsule(id); c != nil {
						err = c.Stop(ctx)
					}
				case 3:
					err = r.Unload(ctx, id)
				case 4:
					var s *bus.Subscription
					if s, err = r.Subscribe(ctx, "echo.*"); err == nil {
						s.Poll()
						err = s.Close(ctx)
					}
				case 5:
					// A subscribe whose context ends at once must leave nothing behind.
					cctx, cancel := context.WithCancel(ctx)
					cancel()
					if s, e := r.Subscribe(cctx, "echo.*"); e == nil {
						err = s.Close(ctx)
					}
				case 6:
					_, err = r.Publish(ctx, "echo.in", []byte(`1`), bus.Verified("hammer"))
				}
				if !expected(err) {
					t.Errorf("unexpected error: %v", err)
				}
			}
		})
	}
	return &wg
}

// TestHammerLifecycle runs Start, Stop, Unload, Subscribe and Publish from many goroutines,
// then stops everything: no panic, no race, no subscription left in the bus or a ledger.
func TestHammerLifecycle(t *testing.T) {
	r := newRuntime(t)
	mod := compile(t, r, "testdata/wat/echo.wasm")
	set := &capsuleSet{}
	stop := make(chan struct{})
	wg := hammer(t, r, mod, set, stop, 1)
	time.AfterFunc(hammerDuration(), func() { close(stop) })
	wg.Wait()
	for _, st := range r.Capsules() {
		if err := r.Unload(context.Background(), st.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n := r.Bus().Stats().Subscriptions; n != 0 {
		t.Errorf("%d subscriptions left in the bus after every capsule and host subscription closed", n)
	}
	set.checkBalanced(t)
	t.Logf("%d capsules started", len(set.caps))
}

// TestHammerClose closes the runtime while the hammer runs.
func TestHammerClose(t *testing.T) {
	for round := range 5 {
		r := newRuntime(t)
		mod := compile(t, r, "testdata/wat/echo.wasm")
		set := &capsuleSet{}
		stop := make(chan struct{})
		wg := hammer(t, r, mod, set, stop, uint64(round))
		// Round 0 closes at once; later rounds once the hammer has started that many capsules.
		checkFor(t, 20*time.Second, "the hammer to start capsules", func() bool {
			set.mu.Lock()
			defer set.mu.Unlock()
			return len(set.caps) >= 2*round
		})
		if err := r.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		close(stop)
		wg.Wait()
		if n := r.Bus().Stats().Subscriptions; n != 0 {
			t.Errorf("round %d: %d subscriptions left after Close", round, n)
		}
		set.checkBalanced(t)
	}
}

// TestStopDuringStart stops a capsule while its Start may still be spawning it (this panicked
// 123 times in 200 when Stop read a pid that Start had not set yet).
func TestStopDuringStart(t *testing.T) {
	r := newRuntime(t)
	mod := compile(t, r, "testdata/wat/echo.wasm")
	for range 200 {
		started := make(chan error, 1)
		go func() {
			_, err := r.Start(context.Background(), hammerSpec(mod, "s"))
			started <- err
		}()
		var c *Capsule
		for c == nil {
			c = r.Capsule("s")
		}
		if err := c.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := <-started; err != nil {
			t.Fatal(err)
		}
		if r.Capsule("s") != nil {
			t.Fatal("a stopped capsule is still registered")
		}
		// The guest subscribes right after it starts, so many stops land during its
		// subscribe: none may leave the subscription behind.
		if n := r.Bus().Stats().Subscriptions; n != 0 {
			t.Fatalf("%d subscriptions left after the stop", n)
		}
		if n := c.ledger.Live(); n != 0 {
			t.Fatalf("%d subscriptions open in the stopped capsule's ledger", n)
		}
	}
}

// TestCloseDuringStart closes runtimes while a Start is in flight: Start either fails with
// ErrRuntimeClosed or its capsule is stopped by Close.
func TestCloseDuringStart(t *testing.T) {
	var closedFirst, startedFirst atomic.Int64
	for range 30 {
		r := newRuntime(t)
		mod := compile(t, r, "testdata/wat/echo.wasm")
		started := make(chan *Capsule, 1)
		go func() {
			c, err := r.Start(context.Background(), hammerSpec(mod, "c"))
			if err != nil && !errors.Is(err, ErrRuntimeClosed) {
				t.Errorf("start: %v", err)
			}
			started <- c
		}()
		if err := r.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		c := <-started
		if c == nil {
			closedFirst.Add(1)
			continue
		}
		startedFirst.Add(1)
		select {
		case <-c.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("a capsule started during Close is still running after Close returned")
		}
	}
	t.Logf("start refused %d times, capsule stopped by Close %d times", closedFirst.Load(), startedFirst.Load())
}
