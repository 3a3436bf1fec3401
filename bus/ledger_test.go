package bus

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
)

// TestLedgerBalancesAtEveryMoment pushes, drains and closes the mailboxes of one ledger from
// many goroutines while another goroutine checks the ledger's invariant over and over; at the
// end the ledger must hold exactly what was offered.
func TestLedgerBalancesAtEveryMoment(t *testing.T) {
	l := NewLedger()
	const boxes, pushes = 8, 2000
	var offered atomic.Uint64
	stop := make(chan struct{})
	checked := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				checked <- n
				return
			default:
			}
			if s := l.Stats(); s.Unaccounted() != 0 {
				t.Errorf("ledger unbalanced: %+v (unaccounted %d)", s, s.Unaccounted())
			}
			n++
		}
	}()
	var wg sync.WaitGroup
	for i := range boxes {
		m := l.NewMailbox(MailboxLimits{Bytes: 4 << 10, PerPrincipal: 16})
		wg.Add(3)
		go func() { // pusher: some pushes land after the close
			defer wg.Done()
			for j := range pushes {
				m.Push(msgOf(uint64(j), Verified(string(rune('a'+j%3))), 10+j%200))
				offered.Add(1)
			}
		}()
		go func() { // consumer
			defer wg.Done()
			for range pushes / 4 {
				m.Drain(nil, 1<<10, takeAll)
			}
		}()
		go func() { // closer, at a different point for every mailbox
			defer wg.Done()
			for m.Stats().Offered < uint64(i*pushes/boxes) {
				m.Drain(nil, 1<<10, takeAll)
			}
			m.Close()
		}()
	}
	wg.Wait()
	close(stop)
	if n := <-checked; n == 0 {
		t.Fatal("the invariant was never checked")
	}
	s := l.Stats()
	if s.Unaccounted() != 0 || s.Offered != offered.Load() || s.Queued != 0 || l.Live() != 0 {
		t.Fatalf("final ledger %+v, live %d; want %d offered, all accounted, none queued or live", s, l.Live(), offered.Load())
	}
	if s.Discarded == 0 || s.Evicted == 0 || s.Delivered == 0 {
		t.Fatalf("final ledger %+v: the test did not exercise discards, evictions and deliveries", s)
	}
}

func TestMailboxCloseReturnsWhatItDiscarded(t *testing.T) {
	m := newMailbox(MailboxLimits{})
	for i := range 5 {
		m.Push(msgOf(uint64(i), System(), 10))
	}
	m.Drain(nil, 10+len("t"), takeAll) // takes exactly one
	if n := m.Close(); n != 4 {
		t.Fatalf("Close discarded %d, want 4", n)
	}
	if n := m.Close(); n != 0 {
		t.Fatalf("second Close discarded %d, want 0", n)
	}
	m.Push(msgOf(9, System(), 10))
	if s := m.Stats(); s.Discarded != 5 || s.Delivered != 1 || s.Unaccounted() != 0 {
		t.Fatalf("stats %+v: want 1 delivered, 5 discarded (4 at close, 1 late)", s)
	}
}

// TestFailedSubscribeLeavesNoSubscription: a Subscribe whose context ends before the router
// answered returns an error and must not leave the subscription in the index.
// TestSubscribeCancelledMidRequestLeavesOnlySuccesses cancels subscribes while their requests
// are in flight: whichever way each one ends, the live subscriptions are exactly the ones whose
// Subscribe succeeded.
func TestSubscribeCancelledMidRequestLeavesOnlySuccesses(t *testing.T) {
	b := newBus(t, Options{})
	l := NewLedger()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		subs []*Subscription
	)
	for i := range 200 {
		ctx, cancel := context.WithCancel(context.Background())
		wg.Go(func() {
			s, err := b.Subscribe(ctx, "race.x", SubscribeOptions{Ledger: l})
			if err == nil {
				mu.Lock()
				subs = append(subs, s)
				mu.Unlock()
			}
		})
		if i%2 == 0 {
			cancel()
		} else {
			wg.Go(cancel)
		}
	}
	wg.Wait()
	// The router handles requests in order: once a fresh subscribe is answered, every
	// withdrawal sent before it has been applied.
	probe := subscribe(t, b, "race.probe")
	if n, want := b.Stats().Subscriptions, len(subs)+1; n != want {
		t.Fatalf("%d live subscriptions, want %d (%d subscribes succeeded, plus the probe)", n, want, len(subs))
	}
	res, err := b.Publish("race.x", []byte(`1`), uuid.Nil, System())
	if err != nil || res.Matched != len(subs) {
		t.Fatalf("publish matched %d (%v), want %d", res.Matched, err, len(subs))
	}
	for _, s := range subs {
		_ = s.Close(context.Background())
	}
	_ = probe.Close(context.Background())
	if st := l.Stats(); st.Unaccounted() != 0 || l.Live() != 0 {
		t.Fatalf("ledger %+v, live %d after closing every subscription", st, l.Live())
	}
}

func TestFailedSubscribeLeavesNoSubscription(t *testing.T) {
	b := newBus(t, Options{})
	l := NewLedger()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var wg sync.WaitGroup
	failed := atomic.Int64{}
	for range 100 {
		wg.Go(func() {
			if _, err := b.Subscribe(ctx, "leak.x", SubscribeOptions{Ledger: l}); err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() != 100 {
		t.Fatalf("%d of 100 subscribes with a done context failed", failed.Load())
	}
	// The router handles requests in order: once a fresh subscribe is answered, every
	// withdrawal sent before it has been applied.
	s := subscribe(t, b, "leak.y")
	if n := b.Stats().Subscriptions; n != 1 {
		t.Fatalf("%d live subscriptions after 100 failed subscribes, want 1", n)
	}
	res, err := b.Publish("leak.x", []byte(`1`), uuid.Nil, System())
	if err != nil || res.Matched != 0 {
		t.Fatalf("publish to the failed pattern matched %d (%v), want 0", res.Matched, err)
	}
	if st := l.Stats(); st.Unaccounted() != 0 || st.Queued != 0 || l.Live() != 0 {
		t.Fatalf("ledger of the failed subscriptions %+v, live %d", st, l.Live())
	}
	_ = s.Close(context.Background())
}
