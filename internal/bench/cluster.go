package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/cluster"
	"github.com/astrid-actors/astrid-actors/internal/actorsys"
	"github.com/astrid-actors/astrid-actors/internal/procstat"
)

// ScenarioCluster measures the cluster with the other nodes as child processes on loopback:
// remote throughput 1→1 and 1→2 against the bus alone in the same run, a round trip through a
// responder on another node, Close of a node, and an idle node's goroutines and RSS.
const ScenarioCluster = "cluster"

// ClusterNodeCommand is the hidden subcommand of the astrid-actors binary that runs a bench
// node (ClusterNodeMain); Config.Executable is started with it.
const ClusterNodeCommand = "bench-cluster-node"

// nodeStats is a bench node's answer to "stats".
type nodeStats struct {
	OK         bool   `json:"ok"`
	Err        string `json:"err,omitempty"`
	Addr       string `json:"addr,omitempty"`
	Members    int    `json:"members"`
	Delivered  uint64 `json:"delivered"`
	Lagged     uint64 `json:"lagged"`
	Goroutines int    `json:"goroutines"`
	RSSBytes   int64  `json:"rss_bytes"`
}

// ClusterNodeMain runs one bench node: a cluster node (named node, routes to seeds) with a
// bus, driven by one command per line on in, one JSON answer per line on out:
// "members N" (wait up to 10 s for N members), "sub PATTERN" (count what arrives),
// "echo FROM TO" (republish every message of FROM on TO), "stats" (counts), "footprint"
// (goroutines and RSS after a GC), "quit".
func ClusterNodeMain(in io.Reader, out io.Writer, node string, seeds []string) int {
	enc := json.NewEncoder(out)
	ctx := context.Background()
	n, err := cluster.Start(ctx, cluster.Options{Name: "bench", Node: node, Seeds: seeds})
	if err != nil {
		_ = enc.Encode(nodeStats{Err: err.Error()})
		return 1
	}
	system := actorsys.New(nil)
	b, err := bus.New(system, bus.Options{Remote: n, Mailbox: hostMailbox})
	if err != nil {
		_ = n.Close(ctx)
		_ = enc.Encode(nodeStats{Err: err.Error()})
		return 1
	}
	n.Attach(b)
	_ = enc.Encode(nodeStats{OK: true, Addr: n.Addr()})
	var delivered, lagged atomic.Uint64
	var wg sync.WaitGroup
	drain := func(s *bus.Subscription, each func(*bus.Message)) {
		defer wg.Done()
		dst := make([]*bus.Message, 0, 1024)
		for {
			if _, err := s.Mailbox().Wait(ctx, time.Second); err != nil {
				return
			}
			batch := s.Mailbox().Drain(dst[:0], 1<<20, func(*bus.Message) bool { return true })
			for _, m := range batch.Messages {
				each(m)
			}
			delivered.Add(uint64(len(batch.Messages)))
			lagged.Add(batch.Lagged + batch.Dropped)
			clear(batch.Messages)
			dst = batch.Messages
		}
	}
	var subs []*bus.Subscription
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		r := nodeStats{OK: true}
		switch {
		case f[0] == "members" && len(f) == 2:
			want, _ := strconv.Atoi(f[1])
			deadline := time.Now().Add(10 * time.Second)
			tick := time.NewTicker(time.Millisecond)
			for len(n.Members()) != want && time.Now().Before(deadline) {
				<-tick.C
			}
			tick.Stop()
			r.OK = len(n.Members()) == want
		case (f[0] == "sub" && len(f) == 2) || (f[0] == "echo" && len(f) == 3):
			s, err := b.Subscribe(ctx, f[1], bus.SubscribeOptions{Mailbox: hostMailbox})
			if err != nil {
				r = nodeStats{Err: err.Error()}
				break
			}
			subs = append(subs, s)
			each := func(*bus.Message) {}
			if f[0] == "echo" {
				to := f[2]
				each = func(m *bus.Message) { _, _ = b.Publish(to, m.Payload, uuid.Nil, bus.System()) }
			}
			wg.Add(1)
			go drain(s, each)
		case f[0] == "stats":
		case f[0] == "footprint":
			runtime.GC()
			r.Goroutines, r.RSSBytes = runtime.NumGoroutine(), rssBytes()
		case f[0] == "quit":
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			for _, s := range subs {
				_ = s.Close(cctx)
			}
			_ = b.Close(cctx)
			_ = n.Close(cctx)
			cancel()
			system.Shutdown()
			wg.Wait()
			_ = enc.Encode(r)
			return 0
		default:
			r = nodeStats{Err: fmt.Sprintf("unknown command %q", sc.Text())}
		}
		r.Members, r.Delivered, r.Lagged = len(n.Members()), delivered.Load(), lagged.Load()
		_ = enc.Encode(r)
	}
	return 0
}

// RunClusterNode parses the arguments of ClusterNodeCommand (--node NAME --seeds A[,B…]) and
// runs ClusterNodeMain on stdin and stdout; it returns the exit code.
func RunClusterNode(args []string) int {
	fs := flag.NewFlagSet(ClusterNodeCommand, flag.ContinueOnError)
	node := fs.String("node", "", "node name")
	seeds := fs.String("seeds", "", "comma-separated route addresses")
	if err := fs.Parse(args); err != nil || *node == "" {
		fmt.Fprintln(os.Stderr, ClusterNodeCommand+": want --node NAME [--seeds HOST:PORT,…]")
		return 2
	}
	var ss []string
	if *seeds != "" {
		ss = strings.Split(*seeds, ",")
	}
	return ClusterNodeMain(os.Stdin, os.Stdout, *node, ss)
}

// benchNode is a child node process.
type benchNode struct {
	name string
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *json.Decoder
	addr string
}

func (e *env) startNode(name string, seeds ...string) (*benchNode, error) {
	if e.cfg.Executable == "" {
		return nil, errors.New("the cluster scenario needs Config.Executable (the astrid-actors binary)")
	}
	cmd := exec.Command(e.cfg.Executable, ClusterNodeCommand, "--node", name, "--seeds", strings.Join(seeds, ","))
	in, out, err := startChild(cmd, "start node "+name)
	if err != nil {
		return nil, err
	}
	nd := &benchNode{name: name, cmd: cmd, in: in, out: json.NewDecoder(out)}
	var st nodeStats
	if err := nd.out.Decode(&st); err != nil || !st.OK {
		nd.kill()
		return nil, fmt.Errorf("node %s did not start: %v %s", name, err, st.Err)
	}
	nd.addr = st.Addr
	return nd, nil
}

func (nd *benchNode) do(format string, args ...any) (nodeStats, error) {
	cmd := fmt.Sprintf(format, args...)
	if _, err := io.WriteString(nd.in, cmd+"\n"); err != nil {
		return nodeStats{}, fmt.Errorf("node %s: %w", nd.name, err)
	}
	var st nodeStats
	if err := nd.out.Decode(&st); err != nil {
		return st, fmt.Errorf("node %s: %q: %w", nd.name, cmd, err)
	}
	if st.Err != "" || !st.OK {
		return st, fmt.Errorf("node %s: %q failed: %s", nd.name, cmd, st.Err)
	}
	return st, nil
}

func (nd *benchNode) kill() {
	_ = nd.cmd.Process.Kill()
	_ = nd.cmd.Wait()
}

func (nd *benchNode) quit() error {
	_, err := nd.do("quit")
	if werr := nd.cmd.Wait(); err == nil {
		err = werr
	}
	return err
}

func runCluster(ctx context.Context, e *env) (_ []Result, err error) {
	pl := payload(e.cfg.PayloadBytes)
	self, err := cluster.Start(ctx, cluster.Options{Name: "bench", Node: "n1"})
	if err != nil {
		return nil, err
	}
	system := actorsys.New(nil)
	b, err := bus.New(system, bus.Options{Remote: self, Mailbox: hostMailbox})
	if err != nil {
		_ = self.Close(ctx)
		system.Shutdown()
		return nil, err
	}
	self.Attach(b)
	closed := false
	closeSelf := func() time.Duration {
		if closed {
			return 0
		}
		closed = true
		start := time.Now()
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = b.Close(cctx)
		_ = self.Close(cctx)
		took := time.Since(start)
		system.Shutdown()
		return took
	}
	defer closeSelf()
	var nodes []*benchNode
	defer func() {
		for _, nd := range nodes {
			if qerr := nd.quit(); qerr != nil {
				nd.kill()
				if err == nil {
					err = qerr
				}
			}
		}
	}()
	for _, name := range []string{"n2", "n3"} {
		nd, err := e.startNode(name, self.Addr())
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, nd)
	}
	for _, nd := range nodes {
		if _, err := nd.do("members 3"); err != nil {
			return nil, err
		}
	}
	idle, err := nodes[1].do("footprint")
	if err != nil {
		return nil, err
	}
	var results []Result
	for subs := 1; subs <= 2; subs++ {
		if _, err := nodes[subs-1].do("sub bench.data"); err != nil {
			return nil, err
		}
		r, err := e.clusterThroughput(ctx, b, nodes[:subs], pl)
		if err != nil {
			return results, err
		}
		results = append(results, r)
	}
	if _, err := nodes[0].do("echo rtt.ping rtt.pong"); err != nil {
		return results, err
	}
	rtt, err := clusterRTT(ctx, b, pl, e.cfg.Duration)
	if err != nil {
		return results, err
	}
	results = append(results, rtt...)
	took := closeSelf()
	alone, err := busAloneFootprint()
	if err != nil {
		return results, err
	}
	runtime.GC()
	selfRSS := rssBytes()
	e.progress("%s: node close %v (bus alone %v); idle node %d goroutines (bus alone %d), %.1f MB RSS",
		ScenarioCluster, took, alone.close, idle.Goroutines, alone.goroutines, float64(idle.RSSBytes)/1e6)
	results = append(results,
		result(ScenarioCluster, "node close", "µs", float64(max(took.Microseconds(), 1)), "≤ 100000 µs", atMost(100000),
			"bus close + cluster node close with two members, links drained",
			Baseline{Name: "bus alone close", Value: float64(max(alone.close.Microseconds(), 1))}),
		result(ScenarioCluster, "idle node goroutines", "goroutines", float64(idle.Goroutines), "≤ 50", atMost(50),
			"a bench node process (cluster node + bus, no capsules) after joining three members",
			Baseline{Name: "bus alone (goroutines it adds)", Value: float64(max(alone.goroutines, 1))}),
		result(ScenarioCluster, "RSS idle node", "KiB", float64(idle.RSSBytes)/1024, "≤ 40960 KiB", atMost(40960),
			"resident set of that process (0: /proc unavailable)",
			Baseline{Name: "this benchmark process", Value: float64(selfRSS) / 1024}))
	return results, nil
}

// footprint is what a bus alone costs: the goroutines it adds and how long its Close takes.
type footprint struct {
	goroutines int
	close      time.Duration
}

func busAloneFootprint() (footprint, error) {
	before := runtime.NumGoroutine()
	system := actorsys.New(nil)
	b, err := bus.New(system, bus.Options{Mailbox: hostMailbox})
	if err != nil {
		system.Shutdown()
		return footprint{}, err
	}
	fp := footprint{goroutines: runtime.NumGoroutine() - before}
	start := time.Now()
	cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = b.Close(cctx)
	fp.close = time.Since(start)
	system.Shutdown()
	return fp, err
}

// clusterThroughput publishes on this node's bus to subscribers on the given nodes and rates
// the messages they received (lost ones excluded), against the bus alone with as many
// subscribers, in Config.Rounds interleaved rounds (remote, then bus alone): the value and
// the ratio are medians over the rounds, with their ranges.
func (e *env) clusterThroughput(ctx context.Context, b *bus.Bus, subs []*benchNode, pl []byte) (Result, error) {
	src := uuid.New()
	pids := []int{os.Getpid()}
	for _, nd := range subs {
		pids = append(pids, nd.cmd.Process.Pid)
	}
	// CPU per delivery of every run (calibration first, then the rounds), ns: the remote runs
	// over the three processes (the link's work is mostly in the others), the bus alone over
	// this one.
	var remoteCPU, aloneCPU []float64
	remote := func(n int) (time.Duration, uint64, error) {
		cpu0 := cpuTime(pids...)
		before := make([]nodeStats, len(subs))
		for i, nd := range subs {
			st, err := nd.do("stats")
			if err != nil {
				return 0, 0, err
			}
			before[i] = st
		}
		start := time.Now()
		for range n {
			if _, err := b.Publish("bench.data", pl, src, bus.System()); err != nil {
				return 0, 0, err
			}
		}
		var lost uint64
		deadline := time.Now().Add(e.timeout())
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for i, nd := range subs {
			for ; ; <-tick.C {
				st, err := nd.do("stats")
				if err != nil {
					return 0, 0, err
				}
				got := st.Delivered + st.Lagged - before[i].Delivered - before[i].Lagged
				if got >= uint64(n) {
					lost += st.Lagged - before[i].Lagged
					break
				}
				if time.Now().After(deadline) {
					return 0, 0, fmt.Errorf("node %s: %d of %d messages arrived", nd.name, got, n)
				}
			}
		}
		el := time.Since(start)
		remoteCPU = append(remoteCPU, float64(cpuTime(pids...)-cpu0)/float64(max(uint64(n*len(subs))-lost, 1)))
		e.progress("%s: %d messages × %d remote subscribers in %v, %d lost", ScenarioCluster, n, len(subs), el.Round(time.Microsecond), lost)
		return el, lost, nil
	}
	run, stop, err := busAlone(ctx, len(subs), pl)
	if err != nil {
		return Result{}, err
	}
	m, err := e.rounds(ctx, ScenarioCluster, []contender{
		{name: "remote", n0: 1000, step: 1000, per: len(subs), run: remote},
		{name: "bus alone", n0: 1000, step: 1, per: len(subs), run: func(n int) (time.Duration, uint64, error) {
			cpu0 := cpuTime(pids[0])
			el, err := run(n)
			aloneCPU = append(aloneCPU, float64(cpuTime(pids[0])-cpu0)/float64(n*len(subs)))
			return el, 0, err
		}},
	})
	stop()
	if err != nil {
		return Result{}, err
	}
	// Rates per subscriber: the rounds count deliveries to all of them.
	for _, rs := range m.rates {
		for i := range rs {
			rs[i] /= float64(len(subs))
		}
	}
	want := 0.4
	if len(subs) > 1 {
		want = 0.25
	}
	n, sent := m.n[0], uint64(m.n[0]*len(subs)*e.cfg.Rounds)
	note := fmt.Sprintf("%d rounds of %d messages of %d bytes to %d node process(es) (last %v), each followed by the bus alone; "+
		"%d of %d deliveries (%.1f%%) lost between nodes (evicted from the link queue when the publisher outruns the link, counted)",
		e.cfg.Rounds, n, len(pl), len(subs), m.elapsed[0].Round(time.Millisecond), m.dropped[0], sent, 100*float64(m.dropped[0])/float64(max(sent, 1)))
	// The rounds' own CPU figure is this process's alone, which misses the other nodes:
	// replaced by the three processes' (the last Rounds runs of each side are the rounds).
	m.cpuPer = nil
	if k := e.cfg.Rounds; len(remoteCPU) >= k && len(aloneCPU) >= k {
		remote, alone := spreadOf(remoteCPU[len(remoteCPU)-k:]).med, spreadOf(aloneCPU[len(aloneCPU)-k:]).med
		if remote > 0 && alone > 0 {
			note += fmt.Sprintf("; CPU per delivery (medians, user+sys): remote %s ns over the three processes, publisher included; bus alone (Go) %s ns (CPU ratio %.3g)",
				nsFigure(remote), nsFigure(alone), alone/remote)
		}
	}
	r := roundsResult(ScenarioCluster, fmt.Sprintf("remote 1→%d per subscriber", len(subs)), "msg/s",
		fmt.Sprintf("≥ %.2f× bus alone", want), nil, note, []string{"bus alone (Go)"}, m)
	r.Met = r.Baselines[0].Ratio >= want
	return r, nil
}

// clusterRTT publishes rtt.ping one at a time; a responder on another node answers rtt.pong.
func clusterRTT(ctx context.Context, b *bus.Bus, pl []byte, d time.Duration) ([]Result, error) {
	pong, err := b.Subscribe(ctx, "rtt.pong", bus.SubscribeOptions{Mailbox: hostMailbox})
	if err != nil {
		return nil, err
	}
	defer func() { _ = pong.Close(context.Background()) }()
	var samples []int64
	end := time.Now().Add(d)
	for time.Now().Before(end) && len(samples) < 100000 {
		rt, err := pingPong(ctx, b, pong, pl)
		if err != nil {
			return nil, err
		}
		samples = append(samples, rt.Nanoseconds())
	}
	p50, p99 := percentiles(samples)
	note := fmt.Sprintf("%d round trips: publish on n1 → responder on n2 (another process) → back", len(samples))
	local, err := busPingPong(ctx, pl, len(samples))
	if err != nil {
		return nil, err
	}
	l50, l99 := percentiles(local)
	return []Result{
		result(ScenarioCluster, "round trip p50", "µs", p50, "≤ 250 µs", atMost(250), note, Baseline{Name: "bus alone (Go)", Value: l50}),
		result(ScenarioCluster, "round trip p99", "µs", p99, "≤ 1000 µs", atMost(1000), note, Baseline{Name: "bus alone (Go)", Value: l99}),
	}, nil
}

// pingPong publishes one ping on b and waits for a message on pong: one round trip.
func pingPong(ctx context.Context, b *bus.Bus, pong *bus.Subscription, pl []byte) (time.Duration, error) {
	start := time.Now()
	if _, err := b.Publish("rtt.ping", pl, uuid.Nil, bus.System()); err != nil {
		return 0, err
	}
	for {
		if _, err := pong.Mailbox().Wait(ctx, 5*time.Second); err != nil {
			return 0, err
		}
		if len(pong.Mailbox().Drain(nil, 1<<20, func(*bus.Message) bool { return true }).Messages) > 0 {
			return time.Since(start), nil
		}
		if time.Since(start) > 5*time.Second {
			return 0, errors.New("no rtt.pong within 5 s")
		}
	}
}

// busPingPong is the same round trip on one bus: a responder goroutine republishes each ping.
func busPingPong(ctx context.Context, pl []byte, n int) ([]int64, error) {
	system := actorsys.New(nil)
	defer system.Shutdown()
	b, err := bus.New(system, bus.Options{Mailbox: hostMailbox})
	if err != nil {
		return nil, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = b.Close(cctx)
	}()
	ping, err := b.Subscribe(ctx, "rtt.ping", bus.SubscribeOptions{Mailbox: hostMailbox})
	if err != nil {
		return nil, err
	}
	pong, err := b.Subscribe(ctx, "rtt.pong", bus.SubscribeOptions{Mailbox: hostMailbox})
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := ping.Mailbox().Wait(ctx, time.Second); err != nil {
				return
			}
			for _, m := range ping.Mailbox().Drain(nil, 1<<20, func(*bus.Message) bool { return true }).Messages {
				_, _ = b.Publish("rtt.pong", m.Payload, uuid.Nil, bus.System())
			}
		}
	}()
	defer func() { _ = ping.Close(context.Background()); <-done }()
	samples := make([]int64, 0, n)
	for range n {
		rt, err := pingPong(ctx, b, pong, pl)
		if err != nil {
			return nil, err
		}
		samples = append(samples, rt.Nanoseconds())
	}
	return samples, nil
}

// rssBytes is the process's resident set size (0 where /proc is unavailable).
func rssBytes() int64 {
	n, _ := procstat.RSS()
	return int64(n)
}

// cpuTime is the user+sys CPU time the processes used so far, from /proc/PID/stat (0 for a
// process whose figures cannot be read, e.g. without /proc). /proc counts in USER_HZ (100)
// ticks, so short runs are rounded to 10 ms per process.
func cpuTime(pids ...int) time.Duration {
	var ticks uint64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')') // the command name may hold spaces
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:]) // f[0] is field 3 (state): utime and stime are fields 14 and 15
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseUint(f[11], 10, 64)
		st, _ := strconv.ParseUint(f[12], 10, 64)
		ticks += u + st
	}
	return time.Duration(ticks) * (time.Second / 100)
}
