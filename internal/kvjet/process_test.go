package kvjet

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/astrid-actors/astrid-actors/kv"
	"github.com/astrid-actors/astrid-actors/kv/kvtest"
)

// childEnv makes the test binary one node of TestAckedWritesSurviveSIGKILL's cluster: it
// holds the JSON childConfig.
const childEnv = "ASTRID_KVJET_CHILD"

type childConfig struct {
	Routes []int  `json:"routes"`
	Dir    string `json:"dir"`
}

var procNS = kv.Namespace{Name: "default:capsule:proc"}

// childMain runs server 0 of the cluster and a store on it: once told "go" on stdin it prints "saw=<value>" of the
// key the parent wrote, then sets keys from 4 goroutines and prints "key=value" after each
// set returned, until it is killed.
func childMain() int {
	var cfg childConfig
	if err := json.Unmarshal([]byte(os.Getenv(childEnv)), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "child:", err); return 1 }
	srv := startServer(&childTB{}, serverOptions(0, cfg.Routes, cfg.Dir))
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL(), nats.MaxReconnects(-1))
	if err != nil {
		return fail(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := Open(ctx, js, Config{Bucket: "proc", Replicas: 3})
	if err != nil {
		return fail(err)
	}
	ctx = context.Background()
	// The parent writes "go" on stdin once its own write returned.
	if line, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil || line != "go\n" {
		return fail(fmt.Errorf("stdin: %q, %v", line, err))
	}
	v, err := s.Get(ctx, procNS, "from-parent")
	if err != nil {
		return fail(err)
	}
	w := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	fmt.Fprintf(w, "saw=%s\n", v)
	_ = w.Flush()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				k, v := fmt.Sprintf("g%d/%06d", g, i), fmt.Sprintf("v%d", i)
				if err := s.Set(ctx, procNS, k, []byte(v)); err != nil {
					fmt.Fprintln(os.Stderr, "child:", err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Fprintf(w, "%s=%s\n", k, v)
				_ = w.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return 0
}

// childTB lets the child use the test helpers that take a testing.TB: a failure exits.
type childTB struct{ testing.TB }

func (childTB) Helper()             {}
func (childTB) Fatal(args ...any)   { fmt.Fprintln(os.Stderr, args...); os.Exit(1) }
func (childTB) Cleanup(f func())    {}
func (childTB) TempDir() string     { d, _ := os.MkdirTemp("", "kvjet-"); return d }
func (childTB) Logf(string, ...any) {}

// TestAckedWritesSurviveSIGKILL runs a 3-server cluster over two processes: servers 1 and 2
// in this one, server 0 — made the stream's leader — and a store in a child. The child reads this process's write, then
// sets keys and acknowledges every set that returned; it is killed with SIGKILL mid-run,
// taking its server (the leader) with it; the survivors elect a new leader, and every acknowledged set is read here from the two survivors,
// with the namespace's usage exactly the size of what is stored.
func TestAckedWritesSurviveSIGKILL(t *testing.T) {
	routes := freePorts(t, 3)
	var servers []*server.Server
	for i := 1; i < 3; i++ {
		srv := startServer(t, serverOptions(i, routes, t.TempDir()))
		servers = append(servers, srv)
		t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	}
	cfg, _ := json.Marshal(childConfig{Routes: routes, Dir: t.TempDir()})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(cfg))
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	nc, err := nats.Connect(servers[0].ClientURL(), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s := openStore(t, js, "proc") // waits for the child's server: R3 needs all three
	ctx := context.Background()
	if err := s.Set(ctx, procNS, "from-parent", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	// Make the child's server the stream leader, so the kill also forces a fail-over.
	leader := func() string {
		info, err := s.stream.Info(ctx)
		if err != nil || info.Cluster == nil {
			return ""
		}
		return info.Cluster.Leader
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(30 * time.Second); leader() != "s0"; <-tick.C {
		if time.Now().After(deadline) {
			t.Fatalf("the child's server s0 did not become the stream leader (leader %q)", leader())
		}
		_, _ = nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+s.name, []byte(`{"placement":{"preferred":"s0"}}`), 5*time.Second)
	}
	if _, err := in.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "saw=hello" {
		t.Fatalf("child's first line %q (%v), want saw=hello", sc.Text(), sc.Err())
	}
	acked := kvtest.KillAfterAcks(t, cmd, sc, 200)
	killed = true
	for k, v := range acked {
		got, err := s.Get(ctx, procNS, k)
		if err != nil || string(got) != v {
			t.Fatalf("acknowledged %s=%s, after SIGKILL of its node: %q, %v", k, v, got, err)
		}
	}
	// The usage is exactly what is stored (sets committed but not yet acknowledged included).
	var size int64
	for cursor := ""; ; {
		page, err := s.List(ctx, procNS, "", cursor, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range page.Keys {
			v, err := s.Get(ctx, procNS, k)
			if err != nil {
				t.Fatal(err)
			}
			size += int64(len(k) + len(v))
		}
		if !page.More {
			break
		}
		cursor = page.Keys[len(page.Keys)-1]
	}
	if u, err := s.Usage(ctx, procNS); err != nil || u != size {
		t.Fatalf("usage %d, %v; the keys and values stored add up to %d", u, err, size)
	}
	if l := leader(); l == "s0" || l == "" {
		t.Fatalf("stream leader after the kill: %q", l)
	}
	// The survivors still take writes (2 of 3 replicas are a quorum).
	if err := s.Set(ctx, procNS, "after", []byte("kill")); err != nil {
		t.Fatalf("write after the kill: %v", err)
	}
	t.Logf("%d acknowledged sets survived SIGKILL of their node", len(acked))
}
