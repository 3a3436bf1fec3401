package actors

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/hostfuncs"
	"github.com/astrid-actors/astrid-actors/supervision"
)

var chaosFor = flag.Duration("chaos.duration", 3*time.Second, "how long TestChaosReconciliation runs (go test -run TestChaosReconciliation ./actors/ -args -chaos.duration=60s)")

// TestChaosReconciliation runs, through the embedding API, subscriber capsules that trap at
// random (chaos.wasm), publisher capsules that trap at random (chaospub.wasm), host publishers
// and host subscriptions, and a goroutine that unloads and replaces subscribers; a monitor
// checks every capsule's Traffic balances at every moment. After Runtime.Close it reconciles
// exactly: every capsule (crashing ones included) balances, and the offers the bus counted at
// publish time equal the offers the capsules and host subscriptions counted.
func TestChaosReconciliation(t *testing.T) {
	r := newRuntime(t)
	ctx := context.Background()
	sub, pub := compile(t, r, "testdata/wat/chaos.wasm"), compile(t, r, "testdata/wat/chaospub.wasm")
	// The events subscription exists before any event, so it was offered every event.
	events, err := r.Bus().Subscribe(ctx, "astrid.v1.*", bus.SubscribeOptions{Mailbox: bus.MailboxLimits{PerPrincipal: 1 << 20, Bytes: 256 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	policy := &supervision.Policy{Restart: supervision.Permanent, MaxRestarts: 1 << 30, Within: time.Hour}
	limits := Limits{IPC: hostfuncs.Limits{Mailbox: bus.MailboxLimits{Bytes: 16 << 10, PerPrincipal: 64}}}
	set := &capsuleSet{}
	start := func(id string, mod *Module, g hostfuncs.Grants) {
		c := startCapsule(t, r, CapsuleSpec{ID: id, Module: mod, Grants: g, Policy: policy, Limits: limits})
		set.add(c)
	}
	const subscribers, publishers = 4, 2
	for i := range subscribers {
		start(fmt.Sprintf("sub-%d", i), sub, grants(nil, []string{"chaos.*"}))
	}
	for i := range publishers {
		start(fmt.Sprintf("pub-%d", i), pub, grants([]string{"chaos.*"}, nil))
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var hostPublished atomic.Uint64
	for g := range 2 { // host publishers, four principals each
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				p := bus.Verified(fmt.Sprintf("host-%d-%d", g, i%4))
				if _, err := r.Publish(ctx, "chaos.host", []byte(`{"h":1}`), p); err != nil {
					t.Errorf("host publish: %v", err)
					return
				}
				hostPublished.Add(1)
			}
		})
	}
	reader, err := r.Subscribe(ctx, "chaos.*") // a host subscription that reads
	if err != nil {
		t.Fatal(err)
	}
	idle, err := r.Subscribe(ctx, "chaos.host") // one that never reads
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() {
		for {
			if _, err := reader.Recv(ctx, 10*time.Millisecond); err != nil {
				return
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	})
	var checks atomic.Uint64
	wg.Go(func() { // the invariant holds at every moment
		for {
			select {
			case <-stop:
				return
			default:
			}
			set.mu.Lock()
			caps := append([]*Capsule(nil), set.caps...)
			set.mu.Unlock()
			for _, c := range caps {
				if tr := c.Status().Traffic; tr.Unaccounted() != 0 {
					t.Errorf("capsule %s: traffic %+v unbalanced by %d while running", c.ID(), tr, tr.Unaccounted())
				}
			}
			checks.Add(1)
		}
	})
	var replaced atomic.Int64
	wg.Go(func() { // unload a random subscriber now and then and start a new one
		rng := rand.New(rand.NewPCG(1, 2))
		next := subscribers
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			victim := fmt.Sprintf("sub-%d", rng.IntN(next))
			if r.Capsule(victim) == nil {
				continue
			}
			if err := r.Unload(ctx, victim); err != nil {
				t.Errorf("unload %s: %v", victim, err)
				return
			}
			c, err := r.Start(ctx, CapsuleSpec{ID: fmt.Sprintf("sub-%d", next), Module: sub,
				Grants: grants(nil, []string{"chaos.*"}), Policy: policy, Limits: limits})
			if err != nil {
				t.Errorf("start: %v", err)
				return
			}
			set.add(c)
			next++
			replaced.Add(1)
		}
	})

	<-time.After(*chaosFor) // the test's duration, not a sequencing of events
	close(stop)
	wg.Wait()
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// Reconcile.
	var total Traffic
	crashes := 0
	set.mu.Lock()
	for _, c := range set.caps {
		st := c.Status()
		if st.Unaccounted() != 0 || st.Queued != 0 || c.ledger.Live() != 0 {
			t.Errorf("capsule %s after Close: traffic %+v (unaccounted %d), %d subscriptions open",
				c.ID(), st.Traffic, st.Unaccounted(), c.ledger.Live())
		}
		c.mu.Lock()
		host := c.hostCountersLocked()
		c.mu.Unlock()
		if host.Delivered != st.Delivered {
			t.Errorf("capsule %s: the mailboxes handed out %d messages, the host functions wrote %d into envelopes",
				c.ID(), st.Delivered, host.Delivered)
		}
		crashes += st.Instances - 1
		total.Published += st.Published
		total.Matched += st.Matched
		total.Delivered += st.Delivered
		total.Dropped += st.Dropped
		total.Discarded += st.Discarded
		total.Queued += st.Queued
	}
	capsules := len(set.caps)
	set.mu.Unlock()
	hostStats := []bus.MailboxStats{reader.Stats(), idle.Stats(), events.Mailbox().Stats()}
	hostOffered := uint64(0)
	for _, s := range hostStats {
		if s.Unaccounted() != 0 {
			t.Errorf("host subscription unbalanced: %+v", s)
		}
		hostOffered += s.Offered
	}
	bs := r.Bus().Stats()
	if got := total.Matched + hostOffered; got != bs.Matched {
		t.Errorf("offers: capsules %d + host subscriptions %d = %d, the bus counted %d at publish (difference %d)",
			total.Matched, hostOffered, got, bs.Matched, int64(bs.Matched)-int64(got))
	}
	eventsPublished := hostStats[2].Offered
	if got := total.Published + hostPublished.Load() + eventsPublished; got != bs.Published {
		t.Errorf("publishes: capsules %d + host %d + events %d = %d, the bus accepted %d",
			total.Published, hostPublished.Load(), eventsPublished, got, bs.Published)
	}
	if crashes == 0 || total.Dropped == 0 || total.Discarded == 0 || total.Delivered == 0 {
		t.Errorf("the chaos did not exercise every path: %d crashes, traffic %+v", crashes, total)
	}
	t.Logf("chaos %v: %d capsules (%d replaced), %d crashes, %d invariant checks while running; published: %d by capsules, %d by the host, %d events; "+
		"capsules matched %d = delivered %d + dropped %d + discarded %d + queued %d (unaccounted %d); bus matched %d = capsules %d + host subscriptions %d",
		*chaosFor, capsules, replaced.Load(), crashes, checks.Load(), total.Published, hostPublished.Load(), eventsPublished,
		total.Matched, total.Delivered, total.Dropped, total.Discarded, total.Queued, total.Unaccounted(), bs.Matched, total.Matched, hostOffered)
}
