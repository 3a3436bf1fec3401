package actors

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/cluster"
	"github.com/astrid-actors/astrid-actors/internal/kvjet"
	"github.com/astrid-actors/astrid-actors/internal/testguests"
	"github.com/astrid-actors/astrid-actors/manifest"
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

// Environment of the node processes of TestClusterKVSurvivesSIGKILLOfTheOwner.
const (
	kvNodeName  = "ASTRID_KV_NODE"
	kvNodeSeed  = "ASTRID_KV_NODE_SEED"
	kvNodeWasm  = "ASTRID_KV_NODE_WASM"
	kvNodeStore = "ASTRID_KV_NODE_STORE"
)

// placedCounter is the spec of examples/counter (wasm) with placement = "cluster", compiled on r.
func placedCounter(t testing.TB, r *Runtime, wasm []byte) CapsuleSpec {
	t.Helper()
	mod, err := r.Compile(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	return CapsuleSpec{ID: "counter", Module: mod, Grants: counterGrants, Policy: policy(5),
		Limits: Limits{KVBytes: 4096}, Placement: manifest.PlacementCluster}
}

// lineLog collects the lines a node process writes on its stdout.
type lineLog struct {
	mu    sync.Mutex
	part  []byte
	lines []string
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.part = append(l.part, p...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.lines = append(l.lines, string(l.part[:i]))
		l.part = l.part[i+1:]
	}
}

func (l *lineLog) has(line string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Contains(l.lines, line)
}

func (l *lineLog) hasPrefix(prefix string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.lines, func(s string) bool { return strings.HasPrefix(s, prefix) })
}

// kvNodeProc is a cluster node in a child process (this test binary running
// TestClusterKVNodeProcess) that loads the placed counter.
type kvNodeProc struct {
	name    string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	out     *lineLog
	done    chan struct{} // closed when cmd.Wait returned waitErr
	waitErr error
}

// startKVNodeProc starts node name seeded with seed; it runs until its stdin closes (a clean
// close, checked in cleanup) or it is killed.
func startKVNodeProc(t *testing.T, name, seed, wasm string) *kvNodeProc {
	t.Helper()
	p := &kvNodeProc{name: name, out: &lineLog{}, done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], "-test.run=^TestClusterKVNodeProcess$")
	p.cmd.Env = append(os.Environ(), kvNodeName+"="+name, kvNodeSeed+"="+seed, kvNodeWasm+"="+wasm,
		kvNodeStore+"="+filepath.Join(t.TempDir(), "jetstream"))
	p.cmd.Stdout, p.cmd.Stderr = p.out, os.Stderr
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.stdin.Close()
		select {
		case <-p.done:
			if p.waitErr != nil && !p.killed() {
				t.Errorf("node process %s: %v", name, p.waitErr)
			}
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			t.Errorf("node process %s did not close within 30 s", name)
		}
	})
	return p
}

func (p *kvNodeProc) killed() bool {
	if p.cmd.ProcessState == nil {
		return false
	}
	st, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && st.Signaled() && st.Signal() == syscall.SIGKILL
}

// TestClusterKVSurvivesSIGKILLOfTheOwner: three cluster nodes, n1 in the test process and n2,
// n3 in child processes, load the counter with placement = "cluster" (n1 last, so a child
// holds the lease). Ticks published on n1 count 1..N; the node process whose instance
// published N is killed with SIGKILL. Ticks published on n1 again (until a count arrives: the
// lease and the kv stream's leadership move first) reach the capsule on a survivor, which
// continues at N+1: every acknowledged increment was replicated before the kill.
func TestClusterKVSurvivesSIGKILLOfTheOwner(t *testing.T) {
	r1 := newClusterRuntime(t, "n1")
	if r1.clusterJetStream() == nil {
		t.Skip("pending: this cluster node runs no JetStream")
	}
	values := hostSubscribe(t, r1, "counter.value") // known to the children when they join
	code := testguests.Build(t, "examples/counter")
	wasm := filepath.Join(t.TempDir(), "counter.wasm")
	if err := os.WriteFile(wasm, code, 0o600); err != nil {
		t.Fatal(err)
	}
	procs := []*kvNodeProc{
		startKVNodeProc(t, "n2", r1.Cluster().Addr(), wasm),
		startKVNodeProc(t, "n3", r1.Cluster().Addr(), wasm),
	}
	checkFor(t, 20*time.Second, "three members", func() bool { return len(r1.Cluster().Members()) == 3 })
	checkFor(t, 60*time.Second, "the counter ready in a node process", func() bool {
		return procs[0].out.hasPrefix("ready ") || procs[1].out.hasPrefix("ready ")
	})
	startCapsule(t, r1, placedCounter(t, r1, code))

	// next publishes ticks on n1 until a value arrives (one tick when retick is false, a tick
	// every 500 ms otherwise), within 20 s.
	next := func(retick bool) *bus.Message {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			publishAsHost(t, r1, "counter.tick", `{}`, systemPrincipal)
			wait := time.Until(deadline)
			if retick {
				wait = min(wait, 500*time.Millisecond)
			}
			ok, err := values.Mailbox().Wait(t.Context(), wait)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				return values.Mailbox().Drain(nil, 1<<20, func(*bus.Message) bool { return true }).Messages[0]
			}
			if time.Now().After(deadline) {
				t.Fatal("no counter.value within 20 s")
			}
		}
	}
	count := func(m *bus.Message) int {
		t.Helper()
		var v struct{ N int }
		if err := json.Unmarshal(m.Payload, &v); err != nil {
			t.Fatal(err)
		}
		return v.N
	}
	const ticks = 5
	var last *bus.Message
	for want := 1; want <= ticks; want++ {
		if last = next(false); count(last) != want {
			t.Fatalf("tick %d: counter says %d", want, count(last))
		}
	}
	ready := "ready " + last.Source.String()
	var owner *kvNodeProc
	checkFor(t, 10*time.Second, "the node of the instance that counted", func() bool {
		if c := r1.Capsule("counter"); c != nil && c.Status().InstanceID == last.Source {
			t.Fatalf("the lease moved to n1 (the test process) before the kill")
		}
		for _, p := range procs {
			if p.out.has(ready) {
				owner = p
				return true
			}
		}
		return false
	})
	if err := owner.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-owner.done
	if !owner.killed() {
		t.Fatalf("node process %s ended with %v, want killed by SIGKILL", owner.name, owner.cmd.ProcessState)
	}
	killed := time.Now()
	m := next(true)
	if m.Source == last.Source {
		t.Fatalf("a count from the killed instance after the kill: %s", m.Payload)
	}
	if n := count(m); n != ticks+1 {
		t.Fatalf("after the SIGKILL of %s (at %d acknowledged ticks) the counter says %d, want %d", owner.name, ticks, n, ticks+1)
	}
	where := "n1"
	for _, p := range procs {
		if p.out.has("ready " + m.Source.String()) {
			where = p.name
		}
	}
	t.Logf("%s killed after %d ticks; the counter continued at %d on %s %v after the kill (ticks every 500 ms)", owner.name, ticks, count(m), where, time.Since(killed))
}

// TestClusterKVNodeProcess is a node process of TestClusterKVSurvivesSIGKILLOfTheOwner; it does
// nothing in a normal run. Once it sees three members it loads the placed counter, prints
// "ready <instance id>" for every instance of it that becomes ready here, and closes when its
// stdin closes.
func TestClusterKVNodeProcess(t *testing.T) {
	name := os.Getenv(kvNodeName)
	if name == "" {
		t.Skip("a node process of TestClusterKVSurvivesSIGKILLOfTheOwner")
	}
	lg := zap.NewNop()
	if os.Getenv("ASTRID_TEST_LOG") != "" {
		lg, _ = zap.NewDevelopment()
	}
	r, err := New(context.Background(), Options{Logger: lg.With(zap.String("rt", name)), Engine: EngineOptions{CacheDir: testCacheDir},
		Cluster: &cluster.Options{Name: "test", Node: name, Seeds: []string{os.Getenv(kvNodeSeed)}, StoreDir: os.Getenv(kvNodeStore), LeaseTTL: testLeaseTTL}})
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
	checkFor(t, 20*time.Second, "three members", func() bool { return len(r.Cluster().Members()) == 3 })
	code, err := os.ReadFile(os.Getenv(kvNodeWasm))
	if err != nil {
		t.Fatal(err)
	}
	startCapsule(t, r, placedCounter(t, r, code))
	stdin := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdin)
	}()
	tk := time.NewTicker(5 * time.Millisecond)
	defer tk.Stop()
	var seen uuid.UUID
	for {
		select {
		case <-stdin:
			return
		case <-tk.C:
		}
		if c := r.Capsule("counter"); c != nil {
			if st := c.Status(); st.State == StateReady && st.InstanceID != seen {
				seen = st.InstanceID
				fmt.Printf("ready %s\n", seen)
			}
		}
	}
}
