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
