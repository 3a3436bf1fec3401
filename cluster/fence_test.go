package cluster

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/astrid-actors/astrid-actors/bus"
)

// TestFenceRefusesStaleToken: n1 holds a lease and its instance publishes; n2 takes the lease
// over with a real compare-and-set on the bucket while n1 has not noticed yet (long renewal
// interval). The next message of n1's old instance still leaves n1 with the old token, and n3
// refuses it (FencedIn) because its watcher knows the newer token; a later unfenced message on
// the same link arrives, so the refused one did not merely lag.
func TestFenceRefusesStaleToken(t *testing.T) {
	nodes := startTrio(t, Options{LeaseTTL: 20 * time.Second, LeaseRenew: 5 * time.Second})
	for _, tn := range nodes {
		waitFor(t, 20*time.Second, tn.node.Name()+" opens the lease bucket", func() bool {
			s := tn.node.LeaseStats()
			return s.Bucket && s.Replicas == 3
		})
	}
	owned := make(chan uint64, 1)
	claim, err := nodes[0].node.Claim("fenced", func(tok uint64) { owned <- tok }, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	defer claim.Release()
	var first uint64
	select {
	case first = <-owned:
	case <-time.After(20 * time.Second):
		t.Fatal("n1 did not acquire the lease")
	}
	sub, err := nodes[2].bus.Subscribe(t.Context(), "fence.*", bus.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close(t.Context())
	src := uuid.New()
	claim.Fence(src)
	if _, err := nodes[0].bus.Publish("fence.t", []byte(`"before"`), src, bus.Claimed("placed")); err != nil {
		t.Fatal(err)
	}
	if m, _ := recvOne(t, sub); string(m.Payload) != `"before"` || m.Source != src {
		t.Fatalf("got %s from %v", m.Payload, m.Source)
	}

	kv, err := nodes[1].node.JetStream().KeyValue(t.Context(), LeaseBucket)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(t.Context(), leaseKey("fenced"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(leaseValue{Node: "n2", Epoch: nodes[1].node.epoch})
	second, err := kv.Update(t.Context(), leaseKey("fenced"), body, e.Revision())
	if err != nil {
		t.Fatal(err)
	}
	l3 := &nodes[2].node.leases
	waitFor(t, 5*time.Second, "n3 learns the new token", func() bool {
		l3.fmu.Lock()
		defer l3.fmu.Unlock()
		return l3.fences[leaseKey("fenced")] == second
	})
	if !claim.Owned() || claim.Token() != first {
		t.Fatalf("n1 noticed the takeover already (token %d); the test needs it not to", claim.Token())
	}
	if _, err := nodes[0].bus.Publish("fence.t", []byte(`"stale"`), src, bus.Claimed("placed")); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[0].bus.Publish("fence.t", []byte(`"unfenced"`), uuid.New(), bus.Claimed("other")); err != nil {
		t.Fatal(err)
	}
	if m, _ := recvOne(t, sub); string(m.Payload) != `"unfenced"` {
		t.Fatalf("n3 got %s, want the stale message refused", m.Payload)
	}
	if s := nodes[2].node.LeaseStats(); s.FencedIn != 1 {
		t.Fatalf("n3 fenced %d messages, want 1: %+v", s.FencedIn, s)
	}
	if s := nodes[0].node.LeaseStats(); s.FencedOut != 0 {
		t.Fatalf("n1 fenced %d messages at the origin, want 0", s.FencedOut)
	}

	// Once n1 knows the lease is not its own, the stale instance's publishes are refused on
	// n1 itself, before any subscriber there (or anywhere) sees them.
	local, err := nodes[0].bus.Subscribe(t.Context(), "fence.*", bus.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close(t.Context())
	claim.Release()
	if tok := claim.Token(); tok != 0 {
		t.Fatalf("released claim still has token %d", tok)
	}
	if _, err := nodes[0].bus.Publish("fence.t", []byte(`"after"`), src, bus.Claimed("placed")); !errors.Is(err, bus.ErrFenced) {
		t.Fatalf("publish of the stale instance on its own node: %v, want ErrFenced", err)
	}
	if _, err := nodes[0].bus.Publish("fence.t", []byte(`"marker"`), uuid.New(), bus.Claimed("other")); err != nil {
		t.Fatal(err)
	}
	if m, _ := recvOne(t, local); string(m.Payload) != `"marker"` {
		t.Fatalf("n1's own subscriber got %s, want the stale message refused", m.Payload)
	}
	if m, _ := recvOne(t, sub); string(m.Payload) != `"marker"` {
		t.Fatalf("n3 got %s, want the stale message refused", m.Payload)
	}
	if s := nodes[0].node.LeaseStats(); s.FencedOut != 1 {
		t.Fatalf("n1 fenced %d messages at the origin, want 1", s.FencedOut)
	}
}
