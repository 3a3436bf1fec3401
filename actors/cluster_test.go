package actors

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/cluster"
	"github.com/astrid-actors/astrid-actors/manifest"
	"go.uber.org/zap"
)

// testLeaseTTL is the placement lease TTL of the test clusters: three times the default, so
// that an owner starved of CPU by a loaded test machine (three nodes under -race) still renews
// in time and a lease moves only when a test makes it move.
const testLeaseTTL = 3 * cluster.DefaultLeaseTTL

// newClusterRuntime starts a runtime that is node name of the cluster "test".
func newClusterRuntime(t testing.TB, name string, seeds ...string) *Runtime {
	t.Helper()
	lg := zap.NewNop()
	if os.Getenv("ASTRID_TEST_LOG") != "" {
		lg, _ = zap.NewDevelopment()
	}
	return newRuntimeWith(t, Options{Logger: lg.With(zap.String("rt", name)),
		Cluster: &cluster.Options{Name: "test", Node: name, Seeds: seeds, LeaseTTL: testLeaseTTL}})
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

// TestClusterPlacedCapsuleRunsOnOneNode: three nodes load the echo capsule with placement =
// "cluster": it runs on exactly one of them, the others show it as standby, and a publish
// gets one echo. When the runtime running it closes, a standby takes over (capsule_moved on
// its bus), runs a new instance, and echoes again.
func TestClusterPlacedCapsuleRunsOnOneNode(t *testing.T) {
	r1 := newClusterRuntime(t, "n1")
	rs := []*Runtime{r1, newClusterRuntime(t, "n2", r1.Cluster().Addr()), newClusterRuntime(t, "n3", r1.Cluster().Addr())}
	for _, r := range rs {
		checkFor(t, 10*time.Second, "three members", func() bool { return len(r.Cluster().Members()) == 3 })
	}
	ctx := t.Context()
	ms, _, errs := manifest.Discover(filepath.Join("..", "testdata", "capsules", "echo"))
	if len(errs) > 0 || len(ms) != 1 {
		t.Fatalf("discover echo: %v", errs)
	}
	ms[0].Supervision.Placement = manifest.PlacementCluster
	// Subscribed before anything is placed, so no capsule_moved can be missed (under load a
	// renewal can be late enough for the lease to move before the test closes the owner).
	moved := make([]*bus.Subscription, len(rs))
	for i, r := range rs {
		moved[i] = hostSubscribe(t, r, cluster.TopicCapsuleMoved)
	}
	for _, r := range rs {
		if _, err := r.LoadManifest(ctx, ms[0]); err != nil {
			t.Fatal(err)
		}
	}
	running := func() []int {
		var out []int
		for i, r := range rs {
			if c := r.Capsule("echo"); c != nil && c.Status().State == StateReady {
				out = append(out, i)
			}
		}
		return out
	}
	checkFor(t, 20*time.Second, "echo ready on one node", func() bool { return len(running()) == 1 })
	owner := running()[0]
	for i, r := range rs {
		st := r.Capsules()
		if len(st) != 1 || (i != owner) != (st[0].State == StateStandby) {
			t.Fatalf("n%d capsules %+v (owner n%d)", i+1, st, owner+1)
		}
	}
	host := rs[(owner+1)%3]
	out := hostSubscribe(t, host, "echo.out")
	if _, err := host.Publish(ctx, "echo.in", []byte(`{"n":1}`), bus.Verified("carol")); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, out, 1, 10*time.Second)[0]; m.Source != rs[owner].Capsule("echo").Status().InstanceID {
		t.Fatalf("echo from %v", m.Source)
	}
	var survivors []*Runtime
	for i, r := range rs {
		if i != owner {
			survivors = append(survivors, r)
		}
	}
	for _, r := range survivors {
		checkFor(t, 5*time.Second, "the survivors see the holder", func() bool {
			h, _ := r.Cluster().LeaseHolder("echo")
			return h == rs[owner].Cluster().Name()
		})
	}
	closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := rs[owner].Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	var next *Runtime
	checkFor(t, 10*time.Second, "echo ready on a survivor", func() bool {
		for _, r := range survivors {
			if c := r.Capsule("echo"); c != nil && c.Status().State == StateReady {
				next = r
				return true
			}
		}
		return false
	})
	ev := moved[slices.Index(rs, next)]
	from := `"from":"n` + strconv.Itoa(owner+1) + `"`
	for found := false; !found; {
		m := receive(t, ev, 1, 5*time.Second)[0]
		found = strings.Contains(string(m.Payload), from)
		if !found {
			t.Logf("capsule_moved %s (not the move from n%d)", m.Payload, owner+1)
		}
	}
	if _, err := host.Publish(ctx, "echo.in", []byte(`{"n":2}`), bus.Verified("carol")); err != nil {
		t.Fatal(err)
	}
	if host == rs[owner] {
		t.Fatal("unreachable: the host is a survivor")
	}
	if m := receive(t, out, 1, 10*time.Second)[0]; m.Source != next.Capsule("echo").Status().InstanceID || string(m.Payload) != `{"n":2}` {
		t.Fatalf("echo after the move: %s from %v", m.Payload, m.Source)
	}
}
