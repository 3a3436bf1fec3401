package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"

	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/internal/actorsys"
)

// testNode is a node with its own actor system and bus, in this process.
type testNode struct {
	node   *Node
	bus    *bus.Bus
	system *actor.ActorSystem
	once   sync.Once
}

func startTestNode(t testing.TB, opts Options) *testNode {
	t.Helper()
	if opts.Name == "" {
		opts.Name = "test"
	}
	ctx := t.Context()
	n, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("start %s: %v", opts.Node, err)
	}
	system := actorsys.New(nil)
	b, err := bus.New(system, bus.Options{Remote: n})
	if err != nil {
		t.Fatal(err)
	}
	n.Attach(b)
	tn := &testNode{node: n, bus: b, system: system}
	t.Cleanup(func() { tn.close(t) })
	return tn
}

func (tn *testNode) close(t testing.TB) { tn.once.Do(func() { tn.doClose(t) }) }

func (tn *testNode) doClose(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tn.bus.Close(ctx); err != nil {
		t.Error(err)
	}
	if err := tn.node.Close(ctx); err != nil {
		t.Error(err)
	}
	tn.system.Shutdown()
}

// waitFor polls cond every millisecond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		<-tick.C
	}
}

func memberNames(n *Node) []string {
	var out []string
	for _, m := range n.Members() {
		out = append(out, m.Node)
	}
	return out
}

// startTrio starts three nodes: n1 first, n2 and n3 seeded with n1's address.
func startTrio(t testing.TB, opts Options) []*testNode {
	t.Helper()
	o1 := opts
	o1.Node = "n1"
	n1 := startTestNode(t, o1)
	nodes := []*testNode{n1}
	for _, name := range []string{"n2", "n3"} {
		o := opts
		o.Node, o.Seeds = name, []string{n1.node.Addr()}
		nodes = append(nodes, startTestNode(t, o))
	}
	want := []string{"n1", "n2", "n3"}
	for _, tn := range nodes {
		waitFor(t, 10*time.Second, tn.node.Name()+" sees three members", func() bool {
			return slices.Equal(memberNames(tn.node), want)
		})
	}
	return nodes
}

func recvOne(t testing.TB, s *bus.Subscription) (*bus.Message, bus.Batch) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for {
		if _, err := s.Mailbox().Wait(ctx, time.Second); err != nil {
			t.Fatalf("wait: %v", err)
		}
		b := s.Mailbox().Drain(nil, 1<<20, func(*bus.Message) bool { return true })
		if len(b.Messages) > 0 {
			return b.Messages[0], b
		}
		if ctx.Err() != nil {
			t.Fatal("no message")
		}
	}
}

func TestThreeNodesIdenticalEnvelope(t *testing.T) {
	nodes := startTrio(t, Options{})
	ctx := t.Context()
	sub2, err := nodes[1].bus.Subscribe(ctx, "foo.*", bus.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sub1, err := nodes[0].bus.Subscribe(ctx, "foo.bar", bus.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	src := uuid.New()
	res, err := nodes[0].bus.Publish("foo.bar", []byte(`{"x":1}`), src, bus.Claimed("alice"))
	if err != nil {
		t.Fatal(err)
	}
	local, _ := recvOne(t, sub1)
	remote, batch := recvOne(t, sub2)
	if local != res.Message {
		t.Fatalf("local subscriber got another message")
	}
	want := res.Message
	if remote.Seq != want.Seq || remote.Source != want.Source || remote.Principal != want.Principal ||
		remote.Topic != want.Topic || string(remote.Payload) != string(want.Payload) ||
		remote.Time.UnixNano() != want.Time.UnixNano() {
		t.Fatalf("remote envelope %+v, want %+v", remote, want)
	}
	if batch.Lagged != 0 || batch.Dropped != 0 {
		t.Fatalf("lagged %d dropped %d", batch.Lagged, batch.Dropped)
	}
	// Only nodes with a matching subscription receive: n3 has none.
	waitFor(t, 5*time.Second, "the frame to n2 acked", func() bool {
		for _, l := range nodes[0].node.Links() {
			if l.Peer == "n2" {
				return l.Acked == 1
			}
		}
		return false
	})
	for _, l := range nodes[0].node.Links() {
		if l.Peer == "n3" && l.Enqueued != 0 {
			t.Fatalf("n3 has no subscription but got %d messages", l.Enqueued)
		}
	}
	if got := nodes[2].bus.Stats().Injected; got != 0 {
		t.Fatalf("n3 injected %d", got)
	}
}

// TestSubscribeThenPublishEverywhere: once Subscribe returns, a message published right
// afterwards on any other member reaches it (no wait in between).
func TestSubscribeThenPublishEverywhere(t *testing.T) {
	nodes := startTrio(t, Options{})
	ctx := t.Context()
	for round := range 20 {
		pattern := fmt.Sprintf("r%d.*", round)
		sub, err := nodes[round%3].bus.Subscribe(ctx, pattern, bus.SubscribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i, tn := range nodes {
			if _, err := tn.bus.Publish(fmt.Sprintf("r%d.from%d", round, i), []byte(`1`), uuid.Nil, bus.System()); err != nil {
				t.Fatal(err)
			}
		}
		got := 0
		for got < 3 {
			_, b := recvOne(t, sub)
			got += len(b.Messages)
		}
		if err := sub.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func TestInvalidOptions(t *testing.T) {
	for _, tc := range []Options{
		{Name: "", Node: "a"},
		{Name: "c", Node: ""},
		{Name: "c", Node: "a b"},
		{Name: "c", Node: "a", Listen: "nohost"},
		{Name: "c", Node: "a", Listen: ":7000"},
		{Name: "c", Node: "a", Seeds: []string{"127.0.0.1:0"}},
		{Name: "c", Node: "a", Seeds: []string{"127.0.0.1:x"}},
	} {
		if _, err := Start(t.Context(), tc); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%+v: err %v, want ErrInvalidOptions", tc, err)
		}
	}
}

// drainAll consumes s until delivered+lagged reaches want or d passes; it returns both.
func drainAll(t testing.TB, s *bus.Subscription, want uint64, d time.Duration) (delivered, lagged uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	for delivered+lagged < want {
		if _, err := s.Mailbox().Wait(ctx, 100*time.Millisecond); err != nil {
			break
		}
		b := s.Mailbox().Drain(nil, 1<<20, func(*bus.Message) bool { return true })
		delivered += uint64(len(b.Messages))
		lagged += b.Lagged
		if b.Dropped != 0 {
			t.Fatalf("mailbox dropped %d", b.Dropped)
		}
	}
	return delivered, lagged
}

// TestLinkLossIsCounted floods a link whose queue holds a few messages: the link evicts the
// oldest, and the remote subscription sees every evicted message in lagged, so delivered +
// lagged equals published exactly; the link's counters balance.
func TestLinkLossIsCounted(t *testing.T) {
	nodes := startTrio(t, Options{Link: LinkLimits{QueueBytes: 2 << 10, WindowBytes: 1 << 10}})
	ctx := t.Context()
	sub, err := nodes[1].bus.Subscribe(ctx, "flood.*", bus.SubscribeOptions{Mailbox: bus.MailboxLimits{Bytes: 64 << 20, PerPrincipal: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20000
	payload := []byte(`"0123456789012345678901234567890123456789"`)
	for i := range n {
		if _, err := nodes[0].bus.Publish(fmt.Sprintf("flood.t%d", i%3), payload, uuid.Nil, bus.System()); err != nil {
			t.Fatal(err)
		}
		if _, err := nodes[0].bus.Publish("other.t", payload, uuid.Nil, bus.System()); err != nil {
			t.Fatal(err)
		}
	}
	delivered, lagged := drainAll(t, sub, n, 20*time.Second)
	if delivered+lagged != n {
		t.Fatalf("delivered %d + lagged %d != published %d", delivered, lagged, n)
	}
	if lagged == 0 {
		t.Fatalf("the flood did not overflow a 2 KiB link queue (delivered %d)", delivered)
	}
	var l LinkStats
	waitFor(t, 5*time.Second, "the last ack", func() bool {
		for _, x := range nodes[0].node.Links() {
			if x.Peer == "n2" {
				l = x
			}
		}
		return l.InFlight == 0
	})
	if l.Enqueued != n || l.Acked != delivered || l.Lost != lagged || l.Queued+l.InFlight != 0 {
		t.Fatalf("link stats %+v (delivered %d lagged %d)", l, delivered, lagged)
	}
	t.Logf("published %d: delivered %d, lagged %d", n, delivered, lagged)
}
