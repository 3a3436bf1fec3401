package actors

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/cluster"
)

// newClusterRuntime starts a runtime that is node name of the cluster "test".
func newClusterRuntime(t testing.TB, name string, seeds ...string) *Runtime {
	t.Helper()
	r, err := New(context.Background(), Options{Engine: EngineOptions{CacheDir: testCacheDir},
		Cluster: &cluster.Options{Name: "test", Node: name, Seeds: seeds}})
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

// TestClusterCapsuleAcrossNodes: the echo capsule runs on n2; the host of n1 publishes echo.in
// and receives the capsule's echo.out with the capsule's instance id as source; n1's placement
// view shows echo on n2.
func TestClusterCapsuleAcrossNodes(t *testing.T) {
	r1 := newClusterRuntime(t, "n1")
	r2 := newClusterRuntime(t, "n2", r1.Cluster().Addr())
	for _, r := range []*Runtime{r1, r2} {
		checkFor(t, 10*time.Second, "two members", func() bool { return len(r.Cluster().Members()) == 2 })
	}
	ctx := t.Context()
	out := hostSubscribe(t, r1, "echo.out")
	if _, err := r2.Load(ctx, filepath.Join("..", "testdata", "capsules", "echo")); err != nil {
		t.Fatal(err)
	}
	echo := r2.Capsule("echo")
	waitReady(t, echo)
	checkFor(t, 10*time.Second, "n1 sees echo placed on n2", func() bool {
		return slices.Contains(r1.Cluster().Placement(), cluster.Placement{Capsule: "echo", Node: "n2"})
	})
	// The echo capsule subscribed before it signalled ready, so n1 knows its interest.
	if _, err := r1.Publish(ctx, "echo.in", []byte(`{"n":1}`), bus.Verified("carol")); err != nil {
		t.Fatal(err)
	}
	got := receive(t, out, 1, 10*time.Second)
	m := got[0]
	if string(m.Payload) != `{"n":1}` || m.Source != echo.Status().InstanceID || m.Principal != bus.Verified("carol") {
		t.Fatalf("echo.out %+v, source want %s", m, echo.Status().InstanceID)
	}
	var to2 cluster.LinkStats
	for _, l := range r1.Cluster().Links() {
		if l.Peer == "n2" {
			to2 = l
		}
	}
	if to2.Enqueued != 1 || !to2.Up {
		t.Fatalf("link n1→n2 %+v", to2)
	}
}

// TestClusterCapsulesACLAcrossNodes: a probe capsule on n1 publishes foo.bar; a probe capsule
// on n2 subscribed to foo.* receives it with the envelope n1 stamped (seq, time, source,
// principal). The publish ACL is enforced on n1 (a denied publish never reaches n2, whose host
// subscribes to it) and the subscribe ACL on n2.
func TestClusterCapsulesACLAcrossNodes(t *testing.T) {
	r1 := newClusterRuntime(t, "n1")
	r2 := newClusterRuntime(t, "n2", r1.Cluster().Addr())
	for _, r := range []*Runtime{r1, r2} {
		checkFor(t, 10*time.Second, "two members", func() bool { return len(r.Cluster().Members()) == 2 })
	}
	ps1, ps2 := newProbeSet(t, r1), newProbeSet(t, r2)
	ps2.lastID = 1_000_000 // both probes see both sets' commands: keep the ids apart
	// Each probe also executes the other's commands (probe.cmd is subscribed on both nodes);
	// their grants are disjoint, so those are denied.
	sub := ps2.start(t, CapsuleSpec{ID: "sub", Grants: grants(nil, []string{"foo.*"})})
	pub := ps1.start(t, CapsuleSpec{ID: "pub", Grants: grants([]string{"foo.bar"}, nil)})

	h := sub.await(t, ps2.send(t, probeCmd{"op": "subscribe", "pattern": "foo.*"})).handle(t)
	sub.await(t, ps2.send(t, probeCmd{"op": "subscribe", "pattern": "secret.*"})).wantCode(t, "capability-denied")
	secret := hostSubscribe(t, r2, "secret.*")
	local := hostSubscribe(t, r1, "foo.bar")

	pub.await(t, ps1.send(t, probeCmd{"op": "publish", "topic": "secret.x", "payload": `{}`})).wantCode(t, "capability-denied")
	pub.await(t, ps1.sendAs(t, bus.Verified("carol"), probeCmd{"op": "publish", "topic": "foo.bar", "payload": `{"from":"n1"}`})).wantCode(t, "ok")
	want := receive(t, local, 1, 10*time.Second)[0]

	var got probeDelivery
	sub.await(t, ps2.send(t, probeCmd{"op": "recv", "handle": h, "timeout_ms": 10000})).decode(t, &got)
	if got.Code != "ok" || len(got.Messages) != 1 || got.Dropped != 0 || got.Lagged != 0 {
		t.Fatalf("n2's recv: %+v", got)
	}
	m := got.Messages[0]
	wantMsg := probeMsg{Topic: "foo.bar", Payload: `{"from":"n1"}`, Kind: "verified", Principal: "carol",
		SourceID: pub.inst.String(), Seq: want.Seq, Time: want.Time.UnixNano()}
	if m != wantMsg {
		t.Fatalf("n2 received %+v, want %+v", m, wantMsg)
	}
	// The denied publish came first on the same link; foo.bar arrived, so it would have too.
	if st := secret.Mailbox().Stats(); st.Offered != 0 {
		t.Fatalf("a publish denied on n1 reached n2: %+v", st)
	}
}
