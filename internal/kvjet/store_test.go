package kvjet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/astrid-actors/astrid-actors/internal/leakcheck"
	"github.com/astrid-actors/astrid-actors/kv"
	"github.com/astrid-actors/astrid-actors/kv/kvtest"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	goleak.VerifyTestMain(m, leakcheck.Options()...)
}

// freePorts returns n TCP ports free on 127.0.0.1 now.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}

// serverOptions configures server i of a JetStream cluster whose route ports are routes,
// with every write fsynced (sync_interval: always).
func serverOptions(i int, routes []int, dir string) *server.Options {
	o := &server.Options{
		ServerName: "s" + strconv.Itoa(i),
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		NoSigs:     true,
		NoLog:      true,
		MaxPayload: 8 << 20,
		JetStream:  true,
		StoreDir:   dir,
		SyncAlways: true,
		Cluster:    server.ClusterOpts{Name: "kvjet", Host: "127.0.0.1", Port: routes[i]},
	}
	for _, p := range routes {
		o.Routes = append(o.Routes, &url.URL{Scheme: "nats-route", Host: "127.0.0.1:" + strconv.Itoa(p)})
	}
	return o
}

func startServer(t testing.TB, o *server.Options) *server.Server {
	t.Helper()
	s, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatal("server not ready")
	}
	return s
}

// testCluster is a 3-server JetStream cluster in this process.
type testCluster struct {
	servers []*server.Server
}

func startCluster(t testing.TB) *testCluster {
	t.Helper()
	routes := freePorts(t, 3)
	c := &testCluster{}
	for i := range 3 {
		c.servers = append(c.servers, startServer(t, serverOptions(i, routes, t.TempDir())))
	}
	t.Cleanup(func() {
		for _, s := range c.servers {
			s.Shutdown()
			s.WaitForShutdown()
		}
	})
	return c
}

// connect returns a JetStream context on server i.
func (c *testCluster) connect(t testing.TB, i int) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(c.servers[i].ClientURL(), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

var bucketSeq atomic.Int64

func openStore(t testing.TB, js jetstream.JetStream, bucket string) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := Open(ctx, js, Config{Bucket: bucket, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestConformance runs the kv.Store conformance suite on a replicated (R3) stream of a
// 3-server cluster; every test gets a bucket of its own, and alternate tests go through
// different servers.
func TestConformance(t *testing.T) {
	c := startCluster(t)
	jss := []jetstream.JetStream{c.connect(t, 0), c.connect(t, 1), c.connect(t, 2)}
	// Every replicated write waits for a quorum's fsync, so the paging test lists 3 000 keys
	// here (still several full pages at every limit); the bbolt store and the host-level test
	// page through 10 000.
	kvtest.RunWith(t, func(t *testing.T) kv.Store {
		n := bucketSeq.Add(1)
		return openStore(t, jss[n%3], "conf"+strconv.FormatInt(n, 10))
	}, kvtest.Options{PagingKeys: 3_000})
}

// TestSubjectsAreInjective: distinct (namespace, key) pairs give distinct subjects, and the
// key tokens sort as the keys' bytes.
func TestSubjectsAreInjective(t *testing.T) {
	s := &Store{prefix: "$AKV.b."}
	pairs := [][2]string{{"a", "b.c"}, {"a.b", "c"}, {"a", "bc"}, {"ab", "c"}, {"", "a"}, {"a", "\u00e9"}, {"a", "\xc3"}}
	seen := map[string][2]string{}
	for _, p := range pairs {
		subj := s.keySubject(p[0], p[1])
		if q, dup := seen[subj]; dup {
			t.Fatalf("%q and %q map to %s", p, q, subj)
		}
		seen[subj] = p
		if !strings.HasPrefix(subj, "$AKV.b.n") || strings.Count(subj, ".") != 3 {
			t.Fatalf("subject %s is not prefix.n<hex>.k<hex>", subj)
		}
	}
	keys := []string{"a", "a/", "a/b", "ab", "b", "z", "\u00e9", "\u65e5"}
	for i := 1; i < len(keys); i++ {
		if keyToken(keys[i-1]) >= keyToken(keys[i]) {
			t.Fatalf("tokens of %q and %q are not in byte order", keys[i-1], keys[i])
		}
	}
}

// TestStoresShareTheBucket: two stores on different servers see each other's writes at
// once, and CAS between them never loses an increment.
func TestStoresShareTheBucket(t *testing.T) {
	c := startCluster(t)
	a := openStore(t, c.connect(t, 0), "shared")
	b := openStore(t, c.connect(t, 2), "shared")
	ns := kv.Namespace{Name: "default:capsule:counter"}
	ctx := context.Background()
	if err := a.Set(ctx, ns, "from-a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Get(ctx, ns, "from-a"); err != nil || string(v) != "1" {
		t.Fatalf("b reads a's write: %q, %v", v, err)
	}
	if err := b.Delete(ctx, ns, "from-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(ctx, ns, "from-a"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("a reads b's delete: %v", err)
	}
	const each = 40
	done := make(chan error, 2)
	for _, s := range []*Store{a, b} {
		go func() {
			for n := 0; n < each; {
				old, err := s.Get(ctx, ns, "n")
				if err != nil && !errors.Is(err, kv.ErrNotFound) {
					done <- err
					return
				}
				v, _ := strconv.Atoi(string(old))
				err = s.CAS(ctx, ns, "n", old, old != nil, []byte(strconv.Itoa(v+1)))
				if err == nil {
					n++
				} else if !errors.Is(err, kv.ErrCASMismatch) {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if v, err := a.Get(ctx, ns, "n"); err != nil || string(v) != strconv.Itoa(2*each) {
		t.Fatalf("counter = %q, %v; want %d", v, err, 2*each)
	}
	if u, _ := b.Usage(ctx, ns); u != int64(len("n")+len(strconv.Itoa(2*each))) {
		t.Fatalf("usage %d", u)
	}
}

// TestNamespaceTooLong: a namespace whose subject could not be published is refused.
func TestNamespaceTooLong(t *testing.T) {
	s := &Store{prefix: "$AKV.b."}
	ns := kv.Namespace{Name: strings.Repeat("p", MaxNamespaceBytes+1)}
	if _, err := s.Get(context.Background(), ns, "k"); err == nil || !strings.Contains(err.Error(), "namespace") {
		t.Fatalf("get in a too long namespace: %v", err)
	}
}

// TestListReadsItsOwnWrites: a List (and a ClearPrefix) right after a Set sees the key, from
// each node's connection in turn. The scan behind them is a consumer that JetStream may place
// on any replica, so without the scan's fence on the namespace's usage record (written by
// every write) a replica that has not yet applied the last write served a stale listing.
func TestListReadsItsOwnWrites(t *testing.T) {
	c := startCluster(t)
	ctx := t.Context()
	var stores []*Store
	for i := range 3 {
		stores = append(stores, openStore(t, c.connect(t, i), "raw"))
	}
	ns := kv.Namespace{Name: "own"}
	const rounds = 150
	for i := range rounds {
		s := stores[i%3]
		key := fmt.Sprintf("k/%03d", i)
		if err := s.Set(ctx, ns, key, []byte(`v`)); err != nil {
			t.Fatal(err)
		}
		r := stores[(i+1)%3]
		page, err := r.List(ctx, ns, "k/", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Keys) != 1 || page.Keys[0] != key {
			t.Fatalf("round %d: list after set of %s on node %d, read on node %d = %v", i, key, i%3, (i+1)%3, page.Keys)
		}
		if n, err := stores[(i+2)%3].ClearPrefix(ctx, ns, "k/"); err != nil || n != 1 {
			t.Fatalf("round %d: clear after set of %s = %d, %v; want 1", i, key, n, err)
		}
	}
}
