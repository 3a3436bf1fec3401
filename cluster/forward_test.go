package cluster

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/astrid-actors/astrid-actors/bus"
)

// TestForwardCacheSlots: whatever slot topics share, each gets its own peers (deduplicated);
// a hit does not call match; an invalidation makes every entry recompute.
func TestForwardCacheSlots(t *testing.T) {
	c := &forwardCache{}
	a, b := &peer{name: "a"}, &peer{name: "b"}
	calls := 0
	matchFor := func(topic string) func([]*peer) []*peer {
		return func(dst []*peer) []*peer {
			calls++
			if len(topic)%2 == 0 {
				return append(dst, a, a) // two patterns of one peer
			}
			return append(dst, b)
		}
	}
	want := func(topic string) []*peer {
		if len(topic)%2 == 0 {
			return []*peer{a}
		}
		return []*peer{b}
	}
	var topics []string
	for i := range 4 * forwardSlots { // more topics than slots: some share one
		topics = append(topics, fmt.Sprintf("t.%d", i))
	}
	for round := range 2 {
		for _, tp := range topics {
			if got := c.peers(tp, matchFor(tp)); !slices.Equal(got, want(tp)) {
				t.Fatalf("round %d: %q → %v, want %v", round, tp, got, want(tp))
			}
		}
	}
	calls = 0
	for range 3 {
		c.peers("hot", matchFor("hot"))
	}
	if calls != 1 {
		t.Fatalf("a repeated topic matched %d times, want once", calls)
	}
	c.invalidate()
	c.peers("hot", matchFor("hot"))
	if calls != 2 {
		t.Fatal("an invalidated entry was used")
	}
}

// TestForwardCacheFollowsSubscriptions: a topic n1 already forwarded (cached) reaches a new
// subscription on another node as soon as its Subscribe returned, and stops being sent to a
// node once its last subscription is gone and n1 applied that.
func TestForwardCacheFollowsSubscriptions(t *testing.T) {
	nodes := startTrio(t, Options{})
	ctx := t.Context()
	pub := func() {
		t.Helper()
		if _, err := nodes[0].bus.Publish("cache.t", []byte(`1`), uuid.Nil, bus.System()); err != nil {
			t.Fatal(err)
		}
	}
	enqueued := func(peer string) uint64 {
		for _, l := range nodes[0].node.Links() {
			if l.Peer == peer {
				return l.Enqueued
			}
		}
		return 0
	}
	s2, err := nodes[1].bus.Subscribe(ctx, "cache.*", bus.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // cached: n2 only
		pub()
	}
	if got := enqueued("n3"); got != 0 {
		t.Fatalf("n3 had no subscription, got %d messages", got)
	}
	s3, err := nodes[2].bus.Subscribe(ctx, "cache.t", bus.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pub() // right after Subscribe returned: must reach n3 too
	if m, _ := recvOne(t, s3); m.Topic != "cache.t" {
		t.Fatalf("n3 got %+v", m)
	}
	if d, _ := drainAll(t, s2, 4, 5*time.Second); d != 4 {
		t.Fatalf("n2 got %d of 4", d)
	}
	if err := s3.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "n1 drops n3's pattern", func() bool {
		return !slices.ContainsFunc(nodes[0].node.index.Match("cache.t", nil), func(p *peer) bool { return p.name == "n3" })
	})
	before := enqueued("n3")
	pub()
	if got := enqueued("n3"); got != before {
		t.Fatalf("n3 unsubscribed but got %d more", got-before)
	}
	if d, _ := drainAll(t, s2, 1, 5*time.Second); d != 1 {
		t.Fatalf("n2 got %d of 1", d)
	}
}
