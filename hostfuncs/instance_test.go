package hostfuncs

import (
	"context"
	"runtime"
	"testing"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/bus"
)

// TestSubscribeCancelledByStopLeavesNothing: a guest subscribe whose instance context ends
// while the router works (a stop during subscribe) fails and must leave no subscription in the
// bus, the instance or the ledger.
func TestSubscribeCancelledByStopLeavesNothing(t *testing.T) {
	w := newWorld(t)
	ledger := bus.NewLedger()
	g := w.guest(Config{Grants: Grants{Subscribe: []string{"s.*"}}, Ledger: ledger})
	pp, pl := g.put("s.x")
	out := g.alloc(4)
	ctx, cancel := context.WithCancel(g.ctx)
	cancel() // the stop came first: the request reaches the router, the reply is not awaited
	failed := 0
	for range 200 {
		if code := g.in.abiSubscribe(ctx, memoryOf(g.mod), uint32(pp), uint32(pl), out); code != abi.OK {
			failed++
		}
		if g.in.Subscriptions() == abi.MaxSubscriptions {
			break
		}
	}
	if failed == 0 {
		t.Fatal("no subscribe saw its ended context; the test proves nothing")
	}
	// The router handles requests in order: once this subscribe is answered, every withdrawal
	// sent before it was applied. A subscribe whose reply won the race against the ended
	// context succeeded and is the instance's; every failed one must be gone.
	g.mustSubscribe("s.y")
	want := g.in.Subscriptions()
	if n := w.bus.Stats().Subscriptions; n != want {
		t.Fatalf("%d subscriptions in the bus, the instance has %d (%d failed subscribes)", n, want, failed)
	}
	if n := ledger.Live(); n != want {
		t.Fatalf("%d open mailboxes in the ledger, the instance has %d", n, want)
	}
	if st := g.in.Release(context.Background()); st.Subscriptions != want {
		t.Fatalf("release closed %d subscriptions, want %d", st.Subscriptions, want)
	}
	if n := ledger.Live(); n != 0 || ledger.Stats().Unaccounted() != 0 {
		t.Fatalf("ledger after release: %d open, %+v", n, ledger.Stats())
	}
}

// TestReleaseCountsWhatItDiscards: Release's Discarded is what the close of each mailbox
// discarded, evictions included elsewhere (the ledger), with publishes racing the release.
func TestReleaseCountsWhatItDiscards(t *testing.T) {
	w := newWorld(t)
	ledger := bus.NewLedger()
	g := w.guest(Config{Grants: Grants{Subscribe: []string{"r.*"}}, Ledger: ledger,
		Limits: Limits{Mailbox: bus.MailboxLimits{PerPrincipal: 16}}})
	g.mustSubscribe("r.a")
	g.mustSubscribe("r.b")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			topic := "r.a"
			if i%2 == 1 {
				topic = "r.b"
			}
			res, err := w.bus.Publish(topic, []byte(`1`), [16]byte{}, bus.Verified("p"))
			if err != nil {
				t.Error(err)
				return
			}
			if res.Matched == 0 && ledger.Live() == 0 {
				return // released
			}
		}
	}()
	for ledger.Stats().Offered < 1000 { // the publisher is busy
		runtime.Gosched()
	}
	st := g.in.Release(context.Background())
	<-done
	s := ledger.Stats()
	if s.Unaccounted() != 0 || s.Queued != 0 || s.Delivered != 0 {
		t.Fatalf("ledger %+v", s)
	}
	// What Release reports is what the closes discarded; later pushes into the closed
	// mailboxes are discarded too, but after the release.
	if st.Discarded != 32 || s.Discarded < st.Discarded || s.Evicted+s.Discarded != s.Offered {
		t.Fatalf("release discarded %d (want 32: 16 per mailbox), ledger %+v", st.Discarded, s)
	}
}
