package cluster

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/internal/actorsys"
	"github.com/astrid-actors/astrid-actors/internal/leakcheck"
	"github.com/astrid-actors/astrid-actors/internal/procstat"
)

// The multi-process tests re-execute the test binary as cluster nodes (env nodeEnv set): a
// node reads one command per line on stdin and answers one JSON line on stdout.
const nodeEnv = "ASTRID_CLUSTER_TEST_NODE"

// envelope is a message as a node reports it.
type envelope struct {
	Seq       uint64 `json:"seq"`
	Topic     string `json:"topic"`
	Payload   string `json:"payload"`
	Source    string `json:"source"`
	Principal string `json:"principal"`
	TimeNs    int64  `json:"time_ns"`
}

func toEnvelope(m *bus.Message) envelope {
	return envelope{Seq: m.Seq, Topic: m.Topic, Payload: string(m.Payload), Source: m.Source.String(),
		Principal: m.Principal.String(), TimeNs: m.Time.UnixNano()}
}

// nodeReply is the answer to one command.
type nodeReply struct {
	OK        bool        `json:"ok"`
	Err       string      `json:"err,omitempty"`
	Addr      string      `json:"addr,omitempty"`
	Envelope  *envelope   `json:"envelope,omitempty"`
	Delivered uint64      `json:"delivered"`
	Lagged    uint64      `json:"lagged"`
	Links     []LinkStats `json:"links,omitempty"`
	Members   []string    `json:"members,omitempty"`
	DownAtNs  int64       `json:"down_at_ns,omitempty"`
	Leaks     string      `json:"leaks,omitempty"`
	// Answer to "latency": one-way delays of the paced messages (lat.*) this node received.
	LatCount uint64 `json:"lat_count,omitempty"`
	LatP99Ns int64  `json:"lat_p99_ns,omitempty"`
	LatMaxNs int64  `json:"lat_max_ns,omitempty"`
	// Goroutines and RSSBytes describe the node process (answer to "footprint").
	Goroutines int   `json:"goroutines,omitempty"`
	RSSBytes   int64 `json:"rss_bytes,omitempty"`
	// Answer to "owner": the claim's state, when this node last acquired and lost it, and
	// the lease counters.
	Owned     bool       `json:"owned,omitempty"`
	Token     uint64     `json:"token,omitempty"`
	OwnedAtNs int64      `json:"owned_at_ns,omitempty"`
	LostAtNs  int64      `json:"lost_at_ns,omitempty"`
	Leases    LeaseStats `json:"leases"`
	// Tokens maps the fence token of every cluster-capsule message this node's subscriber got
	// to its count and the wall-clock time of the last one (answer to "stats").
	Tokens map[uint64]tokenSeen `json:"tokens,omitempty"`
}

// tokenSeen is what a subscriber got from one lease holder.
type tokenSeen struct {
	Count    uint64 `json:"count"`
	FirstNs  int64  `json:"first_ns"`
	LastNs   int64  `json:"last_ns"`
	Instance string `json:"instance"`
}

// placedPayload is what the cluster capsule stand-in publishes.
type placedPayload struct {
	Node  string `json:"node"`
	Token uint64 `json:"token"`
	I     int    `json:"i"`
}

// nodeMain runs this process as a node until "quit" or stdin ends.
func nodeMain() int {
	opts := Options{Name: "proc", Node: os.Getenv(nodeEnv), Listen: "127.0.0.1:0"}
	if os.Getenv("ASTRID_CLUSTER_TEST_DEBUG") != "" { // node logs on stderr
		opts.Logger, _ = zap.NewDevelopment()
	}
	if s := os.Getenv(nodeEnv + "_SEEDS"); s != "" {
		opts.Seeds = strings.Split(s, ",")
	}
	if w, _ := strconv.Atoi(os.Getenv(nodeEnv + "_WINDOW")); w > 0 { // a test's link window
		opts.Link.WindowBytes = w
	}
	ctx := context.Background()
	n, err := Start(ctx, opts)
	out := json.NewEncoder(os.Stdout)
	if err != nil {
		_ = out.Encode(nodeReply{Err: err.Error()})
		return 1
	}
	system := actorsys.New(nil)
	b, err := bus.New(system, bus.Options{Remote: n})
	if err != nil {
		_ = out.Encode(nodeReply{Err: err.Error()})
		return 1
	}
	n.Attach(b)
	_ = out.Encode(nodeReply{OK: true, Addr: n.Addr()})

	var (
		mu        sync.Mutex
		first     *envelope
		delivered atomic.Uint64
		lagged    atomic.Uint64
		downAt    atomic.Int64
		wg        sync.WaitGroup
		pubDone   = make(chan struct{})
		tokens    = map[uint64]tokenSeen{}
		lats      []int64 // one-way delays of lat.* messages, under mu
		claim     *Claim
		ownedAt   atomic.Int64
		lostAt    atomic.Int64
		instStop  chan struct{}
		instDone  chan struct{}
	)
	close(pubDone)
	// The stand-in for a cluster capsule: while this node holds the lease "placed", an
	// instance (its own source id, fenced by the claim) publishes on placed.tick every
	// millisecond.
	onOwn := func(token uint64) {
		src := uuid.New()
		claim.Fence(src)
		ownedAt.Store(time.Now().UnixNano())
		instStop, instDone = make(chan struct{}), make(chan struct{})
		stop, done := instStop, instDone
		go func() {
			defer close(done)
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				body, _ := json.Marshal(placedPayload{Node: n.Name(), Token: token, I: i})
				_, _ = b.Publish("placed.tick", body, src, bus.Claimed("placed"))
			}
		}()
	}
	onLose := func(string) {
		lostAt.Store(time.Now().UnixNano())
		if instStop != nil {
			close(instStop)
			<-instDone
			instStop = nil
		}
	}
	consume := func(s *bus.Subscription, events bool) {
		defer wg.Done()
		for {
			if _, err := s.Mailbox().Wait(ctx, time.Second); err != nil {
				return
			}
			batch := s.Mailbox().Drain(nil, 1<<20, func(*bus.Message) bool { return true })
			if events {
				for _, m := range batch.Messages {
					if m.Topic == TopicMemberDown && downAt.Load() == 0 {
						downAt.Store(time.Now().UnixNano())
					}
				}
				continue
			}
			mu.Lock()
			if first == nil && len(batch.Messages) > 0 {
				e := toEnvelope(batch.Messages[0])
				first = &e
			}
			now := time.Now().UnixNano()
			for _, m := range batch.Messages {
				if strings.HasPrefix(m.Topic, "lat.") {
					if sent, err := strconv.ParseInt(string(m.Payload), 10, 64); err == nil {
						lats = append(lats, now-sent)
					}
					continue
				}
				var pp placedPayload
				if m.Topic != "placed.tick" || json.Unmarshal(m.Payload, &pp) != nil {
					continue
				}
				ts := tokens[pp.Token]
				if ts.Count == 0 {
					ts.FirstNs, ts.Instance = now, m.Source.String()
				}
				ts.Count++
				ts.LastNs = now
				tokens[pp.Token] = ts
			}
			mu.Unlock()
			delivered.Add(uint64(len(batch.Messages)))
			lagged.Add(batch.Lagged)
		}
	}
	evs, _ := b.Subscribe(ctx, TopicMemberDown, bus.SubscribeOptions{})
	wg.Add(1)
	go consume(evs, true)
	var subs []*bus.Subscription
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		r := nodeReply{OK: true}
		switch f[0] {
		case "members": // members N: wait until N members
			want, _ := strconv.Atoi(f[1])
			deadline := time.Now().Add(10 * time.Second)
			tick := time.NewTicker(time.Millisecond)
			for len(n.Members()) != want && time.Now().Before(deadline) {
				<-tick.C
			}
			tick.Stop()
			for _, m := range n.Members() {
				r.Members = append(r.Members, m.Node)
			}
			r.OK = len(r.Members) == want
		case "sub": // sub PATTERN
			s, err := b.Subscribe(ctx, f[1], bus.SubscribeOptions{Mailbox: bus.MailboxLimits{Bytes: 256 << 20, PerPrincipal: 1 << 24}})
			if err != nil {
				r = nodeReply{Err: err.Error()}
				break
			}
			subs = append(subs, s)
			wg.Add(1)
			go consume(s, false)
		case "pub": // pub TOPIC: one message, reply with its envelope
			res, err := b.Publish(f[1], []byte(`{"hello":"world"}`), uuid.New(), bus.Claimed("alice"))
			if err != nil {
				r = nodeReply{Err: err.Error()}
				break
			}
			e := toEnvelope(res.Message)
			r.Envelope = &e
		case "stream": // stream TOPIC N [BENCH]: publish N messages in the background (BENCH: 128-byte payloads)
			count, _ := strconv.Atoi(f[2])
			topic := f[1]
			bench := len(f) > 3
			pubDone = make(chan struct{})
			done := pubDone
			go func() {
				defer close(done)
				for i := range count {
					payload := []byte(strconv.Itoa(i))
					if bench {
						payload = benchPayload
					}
					_, _ = b.Publish(topic, payload, uuid.Nil, bus.System())
				}
			}()
		case "pace": // pace TOPIC N PERMS: publish N messages, PERMS per millisecond, each carrying its send time
			count, _ := strconv.Atoi(f[2])
			perMs, _ := strconv.Atoi(f[3])
			topic := f[1]
			pubDone = make(chan struct{})
			done := pubDone
			go func() {
				defer close(done)
				tick := time.NewTicker(time.Millisecond)
				defer tick.Stop()
				for i := 0; i < count; {
					<-tick.C
					for j := 0; j < perMs && i < count; j, i = j+1, i+1 {
						_, _ = b.Publish(topic, strconv.AppendInt(nil, time.Now().UnixNano(), 10), uuid.Nil, bus.System())
					}
				}
			}()
		case "latency":
			mu.Lock()
			ls := slices.Clone(lats)
			mu.Unlock()
			slices.Sort(ls)
			if len(ls) > 0 {
				r.LatCount, r.LatP99Ns, r.LatMaxNs = uint64(len(ls)), ls[len(ls)*99/100], ls[len(ls)-1]
			}
		case "wait": // wait for the stream to end
			<-pubDone
		case "stats":
			mu.Lock()
			r.Envelope = first
			mu.Unlock()
			r.Delivered, r.Lagged, r.Links, r.DownAtNs = delivered.Load(), lagged.Load(), n.Links(), downAt.Load()
			mu.Lock()
			r.Tokens = maps.Clone(tokens)
			mu.Unlock()
			r.Leases = n.LeaseStats()
		case "claim": // claim: bid for the lease "placed"
			c, err := n.Claim("placed", onOwn, onLose)
			if err != nil {
				r = nodeReply{Err: err.Error()}
				break
			}
			claim = c
		case "owner":
			if claim != nil {
				r.Owned, r.Token = claim.Owned(), claim.Token()
			}
			r.OwnedAtNs, r.LostAtNs, r.Leases = ownedAt.Load(), lostAt.Load(), n.LeaseStats()
		case "footprint":
			runtime.GC()
			r.Goroutines, r.RSSBytes = runtime.NumGoroutine(), rssBytes()
		case "quit":
			<-pubDone
			if claim != nil {
				claim.Release()
			}
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			for _, s := range append(subs, evs) {
				_ = s.Close(cctx)
			}
			_ = b.Close(cctx)
			_ = n.Close(cctx)
			cancel()
			system.Shutdown()
			wg.Wait()
			if err := goleak.Find(leakcheck.Options()...); err != nil {
				r.Leaks = err.Error()
			}
			_ = out.Encode(r)
			return 0
		default:
			r = nodeReply{Err: "unknown command " + f[0]}
		}
		_ = out.Encode(r)
	}
	return 0
}

// proc is a node process driven by a test.
type proc struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *json.Decoder
	addr string
}

func startProc(t testing.TB, name string, seeds ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), nodeEnv+"="+name, nodeEnv+"_SEEDS="+strings.Join(seeds, ","))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, name: name, cmd: cmd, in: in, out: json.NewDecoder(outPipe)}
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	})
	var r nodeReply
	if err := p.out.Decode(&r); err != nil || !r.OK {
		t.Fatalf("node %s did not start: %v %s", name, err, r.Err)
	}
	p.addr = r.Addr
	return p
}

// do sends one command and returns the reply; the child answers every command (bounded by
// the child's own timeouts), or the test fails when the pipe breaks.
func (p *proc) do(format string, args ...any) nodeReply {
	p.t.Helper()
	if _, err := fmt.Fprintf(p.in, format+"\n", args...); err != nil {
		p.t.Fatalf("%s: write: %v", p.name, err)
	}
	var r nodeReply
	if err := p.out.Decode(&r); err != nil {
		p.t.Fatalf("%s: read reply to %q: %v", p.name, fmt.Sprintf(format, args...), err)
	}
	if r.Err != "" {
		p.t.Fatalf("%s: %q: %s", p.name, fmt.Sprintf(format, args...), r.Err)
	}
	return r
}

func (p *proc) quit() {
	p.t.Helper()
	r := p.do("quit")
	if r.Leaks != "" {
		p.t.Errorf("%s leaked goroutines after Close: %s", p.name, r.Leaks)
	}
	if err := p.cmd.Wait(); err != nil {
		p.t.Errorf("%s: exit: %v", p.name, err)
	}
}

func startProcTrio(t *testing.T) []*proc {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	p1 := startProc(t, "n1")
	ps := []*proc{p1, startProc(t, "n2", p1.addr), startProc(t, "n3", p1.addr)}
	for _, p := range ps {
		if r := p.do("members 3"); !r.OK {
			t.Fatalf("%s sees members %v", p.name, r.Members)
		}
	}
	return ps
}

// TestProcessesWildcardIdenticalEnvelopes: three node processes; subscribers to foo.* on n2
// and n3 receive what n1 published on foo.bar with the same seq, source, principal and time;
// every node closes without a goroutine left.
func TestProcessesWildcardIdenticalEnvelopes(t *testing.T) {
	ps := startProcTrio(t)
	ps[1].do("sub foo.*")
	ps[2].do("sub foo.*")
	ps[0].do("pub other.topic")
	want := ps[0].do("pub foo.bar").Envelope
	for _, p := range ps[1:] {
		var got *envelope
		deadline := time.Now().Add(5 * time.Second)
		for got == nil && time.Now().Before(deadline) {
			got = p.do("stats").Envelope
		}
		if got == nil || *got != *want {
			t.Fatalf("%s got %+v, want %+v", p.name, got, want)
		}
	}
	for _, p := range ps {
		f := p.do("footprint")
		t.Logf("%s: %d goroutines, RSS %.1f MB", p.name, f.Goroutines, float64(f.RSSBytes)/1e6)
		if f.Goroutines > 60 {
			t.Errorf("%s: %d goroutines in a node process", p.name, f.Goroutines)
		}
	}
	for _, p := range ps {
		start := time.Now()
		p.quit()
		t.Logf("%s: quit (close and exit) in %v", p.name, time.Since(start))
	}
}

// TestProcessesSIGKILLReconciles: n1 streams to foo.x, subscribed on n2 and n3; n3 is killed
// with SIGKILL mid-stream. The survivor n2 accounts for every message exactly (delivered +
// lagged = published), n1's link to n3 balances (enqueued = acked + lost), and the death is
// noticed within 1.5 s.
func TestProcessesSIGKILLReconciles(t *testing.T) {
	ps := startProcTrio(t)
	ps[1].do("sub foo.*")
	ps[2].do("sub foo.*")
	const n = 200000
	ps[0].do("stream foo.x %d", n)
	deadline := time.Now().Add(20 * time.Second)
	for ps[2].do("stats").Delivered < 1000 && time.Now().Before(deadline) {
	}
	killed := time.Now()
	if err := ps[2].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = ps[2].cmd.Wait()
	ps[0].do("wait")
	var r nodeReply
	for time.Now().Before(deadline) {
		r = ps[1].do("stats")
		if r.Delivered+r.Lagged >= n {
			break
		}
	}
	if r.Delivered+r.Lagged != n {
		t.Fatalf("n2: delivered %d + lagged %d != published %d", r.Delivered, r.Lagged, n)
	}
	var to2, to3 LinkStats
	var down int64
	for time.Now().Before(deadline) {
		s := ps[0].do("stats")
		for _, l := range s.Links {
			switch l.Peer {
			case "n2":
				to2 = l
			case "n3":
				to3 = l
			}
		}
		down = s.DownAtNs
		if !to3.Up && to2.InFlight+to2.Queued == 0 && down != 0 {
			break
		}
	}
	if to3.Up || down == 0 {
		t.Fatalf("n1 still sees n3 up: %+v", to3)
	}
	if to3.Enqueued != to3.Acked+to3.Lost || to3.Enqueued == 0 {
		t.Fatalf("link n1→n3 does not balance: %+v", to3)
	}
	if to2.Enqueued != n || to2.Acked+to2.Lost != n || to2.Lost != r.Lagged {
		t.Fatalf("link n1→n2 %+v, n2 lagged %d", to2, r.Lagged)
	}
	detect := time.Duration(down - killed.UnixNano())
	if detect > 1500*time.Millisecond {
		t.Fatalf("SIGKILL noticed after %v, want ≤ 1.5 s", detect)
	}
	t.Logf("n2 delivered %d lagged %d; n1→n3 enqueued %d acked %d lost %d (unacked %d queued %d); kill noticed by n1 after %v",
		r.Delivered, r.Lagged, to3.Enqueued, to3.Acked, to3.Lost, to3.LostUnacked, to3.LostQueued, detect)
	ps[0].quit()
	ps[1].quit()
}

// TestProcessesFrozenNodeDoesNotStall: n3 is frozen with SIGSTOP while n1 streams to foo.*,
// subscribed on n2 and n3. n2 still gets every message, n1's publisher never blocks, the link
// to n3 stays within its byte budget and balances; n1 drops n3 after the route pings fail,
// and once n3 resumes (SIGCONT) it joins again.
func TestProcessesFrozenNodeDoesNotStall(t *testing.T) {
	ps := startProcTrio(t)
	ps[1].do("sub foo.*")
	ps[2].do("sub foo.*")
	if err := ps[2].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			_ = ps[2].cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	const n = 100000
	ps[0].do("stream foo.y %d", n)
	ps[0].do("wait")
	deadline := time.Now().Add(20 * time.Second)
	var r nodeReply
	for time.Now().Before(deadline) {
		if r = ps[1].do("stats"); r.Delivered+r.Lagged >= n {
			break
		}
	}
	if r.Delivered != n || r.Lagged != 0 {
		t.Fatalf("n2 (not frozen): delivered %d lagged %d, want %d and 0", r.Delivered, r.Lagged, n)
	}
	var to3 LinkStats
	for time.Now().Before(deadline) {
		for _, l := range ps[0].do("stats").Links {
			if l.Peer == "n3" {
				to3 = l
			}
		}
		if !to3.Up {
			break
		}
	}
	if to3.Up {
		t.Fatalf("n1 still sees the frozen n3 up: %+v", to3)
	}
	if to3.Enqueued != to3.Acked+to3.Lost || to3.Lost == 0 {
		t.Fatalf("link n1→n3 %+v", to3)
	}
	t.Logf("frozen n3: n1→n3 enqueued %d acked %d lost %d (queued %d unacked %d)", to3.Enqueued, to3.Acked, to3.Lost, to3.LostQueued, to3.LostUnacked)
	resumed = true
	resumeAndQuit(t, ps, ps[2])
}

// TestProcessesFrozenNodeLatency: n1 paces 10 000 messages/s to subscribers on n2 and n3 and
// n3 is frozen with SIGSTOP mid-stream. The link to n3 fills its window and stops, but the
// frames to n2 go through the same in-process connection and embedded server of n1: their
// one-way delay must stay far below the second it takes to drop n3 (a head-of-line stall
// behind the frozen route would show here as a delay of up to that second).
func TestProcessesFrozenNodeLatency(t *testing.T) {
	ps := startProcTrio(t)
	ps[1].do("sub lat.*")
	ps[2].do("sub lat.*")
	const n, perMs = 30000, 10
	ps[0].do("pace lat.x %d %d", n, perMs)
	waitFor(t, 10*time.Second, "n3 receiving", func() bool { return ps[2].do("stats").Delivered > 5000 })
	if err := ps[2].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			_ = ps[2].cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	ps[0].do("wait")
	var r nodeReply
	waitFor(t, 20*time.Second, "n2 got every message", func() bool {
		r = ps[1].do("stats")
		return r.Delivered+r.Lagged >= n
	})
	if r.Delivered != n {
		t.Fatalf("n2 delivered %d, lagged %d, want %d", r.Delivered, r.Lagged, n)
	}
	lat := ps[1].do("latency")
	t.Logf("n2 while n3 was frozen: %d messages, one-way p99 %v, max %v (window %s bytes)", lat.LatCount,
		time.Duration(lat.LatP99Ns), time.Duration(lat.LatMaxNs), cmp.Or(os.Getenv(nodeEnv+"_WINDOW"), strconv.Itoa(Options{}.Link.WithDefaults().WindowBytes)))
	if lat.LatCount != n || time.Duration(lat.LatMaxNs) > 500*time.Millisecond {
		t.Fatalf("n2: %d latencies, max %v: the frozen n3 stalled the other link", lat.LatCount, time.Duration(lat.LatMaxNs))
	}
	resumed = true
	resumeAndQuit(t, ps, ps[2])
}

// BenchmarkProcesses measures the cluster with every node in its own process (the test binary
// re-executed): n1 publishes b.N 128-byte messages as fast as it can; subscribers on n2 (1to1)
// or on n2 and n3 (1to2) count delivered + lagged. delivered/s is per subscriber and excludes
// lost messages. Compare with BenchmarkPublishDrain/local in the same run.
func BenchmarkProcesses(b *testing.B) {
	for _, subs := range []int{1, 2} {
		b.Run(fmt.Sprintf("1to%d", subs), func(b *testing.B) {
			p1 := startProc(b, "n1")
			ps := []*proc{p1, startProc(b, "n2", p1.addr), startProc(b, "n3", p1.addr)}
			for _, p := range ps {
				if r := p.do("members 3"); !r.OK {
					b.Fatalf("%s sees %v", p.name, r.Members)
				}
			}
			for _, p := range ps[1 : 1+subs] {
				p.do("sub bench.*")
			}
			b.SetBytes(int64(len(benchPayload)))
			b.ResetTimer()
			start := time.Now()
			p1.do("stream bench.t %d bench", b.N)
			var delivered, lagged uint64
			deadline := time.Now().Add(2 * time.Minute)
			for _, p := range ps[1 : 1+subs] {
				for time.Now().Before(deadline) {
					r := p.do("stats")
					if r.Delivered+r.Lagged >= uint64(b.N) {
						delivered, lagged = delivered+r.Delivered, lagged+r.Lagged
						break
					}
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(delivered)/float64(subs)/elapsed.Seconds(), "delivered/s")
			b.ReportMetric(float64(lagged)/float64(b.N*subs), "lost/op")
			for _, p := range ps {
				p.quit()
			}
		})
	}
}

// rssBytes is the process's resident set size (0 where /proc is unavailable).
func rssBytes() int64 {
	n, _ := procstat.RSS()
	return int64(n)
}

// resumeAndQuit sends SIGCONT to the frozen node, waits until every node sees the three members
// again, and quits them all.
func resumeAndQuit(t *testing.T, ps []*proc, frozen *proc) {
	t.Helper()
	if err := frozen.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if r := p.do("members 3"); !r.OK {
			t.Fatalf("after SIGCONT %s sees %v", p.name, r.Members)
		}
	}
	for _, p := range ps {
		p.quit()
	}
}
