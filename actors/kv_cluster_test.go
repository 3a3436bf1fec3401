package actors

import (
	"testing"
	"time"

	"github.com/astrid-actors/astrid-actors/internal/kvjet"
	"github.com/astrid-actors/astrid-actors/internal/testguests"
)

// TestClusterKVFollowsTheCapsule: on a 3-node cluster whose embedded servers run JetStream,
// every node keeps kv in the cluster's replicated stream (internal/kvjet): the counter counts
// to 3 on n1, is unloaded there, and continues at 4 on n3.
func TestClusterKVFollowsTheCapsule(t *testing.T) {
	r1 := newClusterRuntime(t, "n1")
	if r1.clusterJetStream() == nil {
		t.Skip("pending: this cluster node runs no JetStream (cluster.Node.JetStream comes with placement)")
	}
	r2 := newClusterRuntime(t, "n2", r1.Cluster().Addr())
	r3 := newClusterRuntime(t, "n3", r1.Cluster().Addr())
	for _, r := range []*Runtime{r1, r2, r3} {
		checkFor(t, 20*time.Second, "three members", func() bool { return len(r.Cluster().Members()) == 3 })
	}
	wasm := testguests.Build(t, "examples/counter")
	tick := counter(t, r1, wasm)
	for want := 1; want <= 3; want++ {
		if n := tick(`{}`); n != want {
			t.Fatalf("tick %d on n1: counter says %d", want, n)
		}
	}
	st, err := r1.KV()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.(*kvjet.Store); !ok {
		t.Fatalf("n1's kv store is a %T, want the cluster's *kvjet.Store", st)
	}
	if err := r1.Unload(t.Context(), "counter"); err != nil {
		t.Fatal(err)
	}
	tick = counter(t, r3, wasm)
	if n := tick(`{}`); n != 4 {
		t.Fatalf("on n3 the counter says %d, want 4 (it counted to 3 on n1)", n)
	}
}
