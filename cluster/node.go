package cluster

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/astrid-actors/astrid-actors/bus"
	icl "github.com/astrid-actors/astrid-actors/internal/cluster"
	"github.com/astrid-actors/astrid-actors/topics"
)

// Event topics the node publishes on its own bus (system principal). They describe this node's
// view and are never forwarded to other nodes.
const (
	TopicMemberUp   = "astrid.v1.cluster.member_up"
	TopicMemberDown = "astrid.v1.cluster.member_down"
	TopicLinkLoss   = "astrid.v1.cluster.link_loss"
	eventPrefix     = "astrid.v1.cluster."
)

// maxPayload is the largest NATS message the embedded servers accept: one frame holds at most
// one message of abi.MaxPayloadBytes beyond its batch budget, plus a loss report.
const maxPayload = 8 << 20

// Member is one node of the cluster as this node sees it.
type Member struct {
	// Node is the member's node name.
	Node string `json:"node"`
	// Self is true for this node.
	Self bool `json:"self"`
	// Since is when this node saw the member join (its own start for Self).
	Since time.Time `json:"since"`
	// Patterns is the number of distinct subscription patterns of the member.
	Patterns int `json:"patterns"`
	// Capsules are the capsules running on the member, as it reported them (see SetCapsules).
	Capsules []string `json:"capsules"`
}

// LinkStats are the counters of this node's link with one peer: the sending half (every
// message enqueued is acked, lost, queued or in flight) and the receiving half.
type LinkStats struct {
	// Peer is the peer's node name; Up whether it is a member now.
	Peer string `json:"peer"`
	Up   bool   `json:"up"`
	// Sending half.
	Enqueued      uint64 `json:"enqueued"`
	Sent          uint64 `json:"sent"`
	Frames        uint64 `json:"frames"`
	Acked         uint64 `json:"acked"`
	Lost          uint64 `json:"lost"`
	LostQueued    uint64 `json:"lost_queued"`
	LostUnacked   uint64 `json:"lost_unacked"`
	LostTransit   uint64 `json:"lost_transit"`
	Queued        int    `json:"queued"`
	QueuedBytes   int    `json:"queued_bytes"`
	InFlight      int    `json:"in_flight"`
	InFlightBytes int    `json:"in_flight_bytes"`
	Sessions      uint64 `json:"sessions"`
	// Receiving half: messages received in sequence, sequence numbers found missing, and
	// messages of remote-reported losses charged to local subscriptions as lagged.
	Received   uint64 `json:"received"`
	Missing    uint64 `json:"missing"`
	Duplicates uint64 `json:"duplicates"`
	Lagged     uint64 `json:"lagged"`
}

// state is a node's replicated state: its subscription patterns and capsules, versioned.
type state struct {
	Epoch    uint64   `json:"epoch"`
	Version  uint64   `json:"version"`
	Patterns []string `json:"patterns"`
	Capsules []string `json:"capsules"`
}

// ctlMsg is a control request (hello or state push) and its reply.
type ctlMsg struct {
	From  string `json:"from"`
	State state  `json:"state"`
}

// peer is one other node, known by name.
type peer struct {
	name   string
	data   string // subject of its data frames
	ctl    string // subject of its control requests
	send   *icl.Sender
	recv   icl.Receiver
	wake   chan struct{}
	lagged atomic.Uint64
	// Guarded by Node.mu.
	serverID  string // server id of its route, "" when no route is seen
	helloing  bool
	up        bool
	since     time.Time
	downAt    time.Time // when its last membership ended
	state     state
	known     bool   // state holds something received
	acked     uint64 // highest version of our state it confirmed in this membership
	lostSeen  uint64 // Lost() already reported in a link_loss event
	indexedAs []string
}

// Node is one member of a cluster. Create it with Start, give it to bus.Options.Remote, Attach
// the bus, and Close it after the bus.
type Node struct {
	opts                       Options
	log                        *zap.Logger
	ns                         *server.Server
	nc                         *nats.Conn
	addr                       string
	epoch                      uint64
	started                    time.Time
	subjData, subjAck, subjCtl string

	bus   atomic.Pointer[bus.Bus]
	index *topics.Index[*peer] // remote patterns; written under mu only
	fwd   forwardCache         // topic → matching peers, invalidated by every index change

	mu       sync.Mutex
	peers    map[string]*peer
	refs     map[string]int // local patterns and their subscription counts
	version  uint64
	capsules []string
	closed   bool

	events []event // published by flush, outside mu

	ctx    context.Context // cancelled by Close: ends control requests
	cancel context.CancelFunc
	stop   chan struct{}
	wg     sync.WaitGroup
	subs   []*nats.Subscription

	leases   leaseState
	storeDir string // removed by Close when tmpStore
	tmpStore bool
}

// event is a cluster event waiting to be published.
type event struct {
	topic  string
	fields map[string]any
}

func newEpoch() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:]) | 1
}

func subject(cluster, node, kind string) string {
	return "astrid." + icl.Token(cluster) + "." + icl.Token(node) + "." + kind
}

// Start starts the node's embedded NATS server with routes to the seeds and connects to it.
// It returns once the server accepts connections; peers join in the background (Members).
func Start(ctx context.Context, opts Options) (*Node, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	host, port, _ := splitHostPort("listen address", opts.Listen)
	if port == 0 {
		// JetStream clustering needs at least one configured route; the node lists itself
		// (harmless to NATS), so it needs its port before the server starts.
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("cluster: pick a route port on %s: %w", host, err)
		}
		port = l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
	}
	storeDir, tmpStore := opts.StoreDir, false
	if storeDir == "" {
		d, err := os.MkdirTemp("", "astrid-jetstream-")
		if err != nil {
			return nil, fmt.Errorf("cluster: JetStream store directory: %w", err)
		}
		storeDir, tmpStore = d, true
	} else if err := os.MkdirAll(storeDir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster: JetStream store directory: %w", err)
	}
	removeStore := func() {
		if tmpStore {
			_ = os.RemoveAll(storeDir)
		}
	}
	setRaftTiming()
	var secret [16]byte
	_, _ = rand.Read(secret[:])
	clientToken := hex.EncodeToString(secret[:])
	sopts := &server.Options{
		ServerName:    opts.Node,
		Host:          "127.0.0.1",
		Port:          server.RANDOM_PORT,
		Authorization: clientToken,
		NoSigs:        true,
		NoLog:         true,
		MaxPayload:    maxPayload,
		JetStream:     true,
		StoreDir:      storeDir,
		// Leases are tiny; these bound what the embedded JetStream may take.
		JetStreamMaxMemory: 64 << 20,
		JetStreamMaxStore:  256 << 20,
		Cluster: server.ClusterOpts{
			Name:         opts.Name,
			Host:         host,
			Port:         port,
			PoolSize:     -1,
			PingInterval: opts.PingInterval,
			MaxPingsOut:  opts.MaxPingsOut,
			TLSConfig:    opts.TLS,
			TLSTimeout:   2,
		},
	}
	if opts.Token != "" {
		sopts.Cluster.Username, sopts.Cluster.Password = "astrid", opts.Token
	}
	self := net.JoinHostPort(host, strconv.Itoa(port))
	seeds := opts.Seeds
	if !slices.Contains(seeds, self) {
		seeds = append(slices.Clone(seeds), self)
	}
	for _, s := range seeds {
		u := &url.URL{Scheme: "nats-route", Host: s}
		if opts.TLS != nil {
			u.Scheme = "tls"
		}
		if opts.Token != "" {
			u.User = url.UserPassword("astrid", opts.Token)
		}
		sopts.Routes = append(sopts.Routes, u)
	}
	ns, err := server.NewServer(sopts)
	if err != nil {
		removeStore()
		return nil, fmt.Errorf("cluster: configure embedded NATS server: %w", err)
	}
	ns.SetLoggerV2(natsLogger{opts.Logger.Named("nats")}, false, false, false)
	ns.Start()
	deadline := 5 * time.Second
	if d, ok := ctx.Deadline(); ok {
		deadline = time.Until(d)
	}
	if !ns.ReadyForConnections(deadline) {
		ns.Shutdown()
		ns.WaitForShutdown()
		removeStore()
		return nil, fmt.Errorf("cluster: embedded NATS server did not start (route listener %s)", opts.Listen)
	}
	n := &Node{
		opts: opts, log: opts.Logger.Named("cluster").With(zap.String("node", opts.Node)),
		ns: ns, epoch: newEpoch(), started: time.Now(),
		subjData: subject(opts.Name, opts.Node, "d"),
		subjAck:  subject(opts.Name, opts.Node, "a"),
		subjCtl:  subject(opts.Name, opts.Node, "c"),
		index:    topics.NewIndex[*peer](),
		peers:    map[string]*peer{},
		refs:     map[string]int{},
		stop:     make(chan struct{}),
		storeDir: storeDir, tmpStore: tmpStore,
	}
	n.leases.fences, n.leases.seen = map[string]uint64{}, map[string]seenRev{}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if a := ns.ClusterAddr(); a != nil {
		n.addr = net.JoinHostPort(host, strconv.Itoa(a.Port))
	}
	n.nc, err = nats.Connect("", nats.InProcessServer(ns), nats.Token(clientToken),
		nats.Name("astrid-"+opts.Node), nats.MaxReconnects(-1),
		nats.ErrorHandler(func(_ *nats.Conn, s *nats.Subscription, err error) {
			n.log.Warn("nats client error", zap.Error(err))
		}))
	if err != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
		removeStore()
		return nil, fmt.Errorf("cluster: connect to embedded NATS server: %w", err)
	}
	if n.leases.js, err = jetstream.New(n.nc); err != nil {
		n.shutdownNATS()
		return nil, fmt.Errorf("cluster: JetStream context: %w", err)
	}
	for subj, h := range map[string]nats.MsgHandler{n.subjData: n.onData, n.subjAck: n.onAck, n.subjCtl: n.onCtl} {
		sub, err := n.nc.Subscribe(subj, h)
		if err != nil {
			n.shutdownNATS()
			return nil, fmt.Errorf("cluster: subscribe %s: %w", subj, err)
		}
		_ = sub.SetPendingLimits(-1, -1) // bounded by the peers' windows
		n.subs = append(n.subs, sub)
	}
	if err := n.nc.Flush(); err != nil {
		n.shutdownNATS()
		return nil, fmt.Errorf("cluster: flush subscriptions: %w", err)
	}
	n.wg.Add(2)
	go n.poll()
	go n.manageLeases()
	n.log.Info("node started", zap.String("cluster", opts.Name), zap.String("listen", n.addr),
		zap.Strings("seeds", opts.Seeds))
	return n, nil
}

func (n *Node) shutdownNATS() {
	n.nc.Close()
	n.ns.Shutdown()
	n.ns.WaitForShutdown()
	if n.tmpStore {
		_ = os.RemoveAll(n.storeDir)
	}
}

// Name returns the node name.
func (n *Node) Name() string { return n.opts.Node }

// ClusterName returns the cluster name.
func (n *Node) ClusterName() string { return n.opts.Name }

// Addr returns the route listen address (with the port the system chose for port 0).
func (n *Node) Addr() string { return n.addr }

// Attach gives the node the bus that remote messages are injected into and that receives the
// cluster events. Call it once, right after creating the bus with this node as its Remote.
func (n *Node) Attach(b *bus.Bus) { n.bus.Store(b) }

// SetCapsules records the capsules running on this node; the other nodes see them in Members.
func (n *Node) SetCapsules(ids []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	n.capsules = slices.Sorted(slices.Values(ids))
	n.version++
	n.pushAllLocked()
}

// pushAllLocked sends our state to every member in the background (without waiting).
func (n *Node) pushAllLocked() {
	st := n.stateLocked()
	for _, p := range n.upPeersLocked() {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			_, _ = n.pushState(p, st)
		}()
	}
}

func (n *Node) stateLocked() state {
	pats := make([]string, 0, len(n.refs))
	for p := range n.refs {
		pats = append(pats, p)
	}
	slices.Sort(pats)
	return state{Epoch: n.epoch, Version: n.version, Patterns: pats, Capsules: slices.Clone(n.capsules)}
}

func (n *Node) upPeersLocked() []*peer {
	var out []*peer
	for _, p := range n.peers {
		if p.up {
			out = append(out, p)
		}
	}
	return out
}

// Members returns this node and every peer it sees as a member, sorted by name.
func (n *Node) Members() []Member {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := []Member{{Node: n.opts.Node, Self: true, Since: n.started, Patterns: len(n.refs), Capsules: slices.Clone(n.capsules)}}
	for _, p := range n.peers {
		if p.up {
			out = append(out, Member{Node: p.name, Since: p.since, Patterns: len(p.state.Patterns), Capsules: slices.Clone(p.state.Capsules)})
		}
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Node, b.Node) })
	return out
}

// WaitJoined waits until this node has at least one other member and every node it has a
// route to finished joining, and that held for three polls in a row (new routes learnt from the
// seeds appear within that time). It returns ctx.Err() when ctx ends first. The command line
// calls it before loading capsules, so their first publishes reach the other nodes.
func (n *Node) WaitJoined(ctx context.Context) error {
	t := time.NewTicker(n.opts.PollInterval)
	defer t.Stop()
	stable := 0
	for stable < 3 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		n.mu.Lock()
		up, pending := 0, 0
		for _, p := range n.peers {
			switch {
			case p.up:
				up++
			case p.serverID != "":
				pending++
			}
		}
		n.mu.Unlock()
		if up > 0 && pending == 0 && n.ns.NumRoutes() <= up {
			stable++
		} else {
			stable = 0
		}
	}
	return nil
}

// Placement is where one capsule runs.
type Placement struct {
	Capsule string `json:"capsule"`
	Node    string `json:"node"`
}

// Placement lists every capsule of every member with the node it runs on, sorted by capsule
// then node (a capsule every node loads appears once per node).
func (n *Node) Placement() []Placement {
	var out []Placement
	for _, m := range n.Members() {
		for _, c := range m.Capsules {
			out = append(out, Placement{Capsule: c, Node: m.Node})
		}
	}
	slices.SortFunc(out, func(a, b Placement) int {
		if c := strings.Compare(a.Capsule, b.Capsule); c != 0 {
			return c
		}
		return strings.Compare(a.Node, b.Node)
	})
	return out
}

// Links returns the link counters for every peer ever seen, sorted by name.
func (n *Node) Links() []LinkStats {
	n.mu.Lock()
	ps := make([]*peer, 0, len(n.peers))
	ups := make(map[*peer]bool, len(n.peers))
	for _, p := range n.peers {
		ps = append(ps, p)
		ups[p] = p.up
	}
	n.mu.Unlock()
	out := make([]LinkStats, 0, len(ps))
	for _, p := range ps {
		s, r := p.send.Stats(), p.recv.Stats()
		out = append(out, LinkStats{
			Peer: p.name, Up: ups[p],
			Enqueued: s.Enqueued, Sent: s.Sent, Frames: s.Frames, Acked: s.Acked, Lost: s.Lost(),
			LostQueued: s.LostQueued, LostUnacked: s.LostUnacked, LostTransit: s.LostTransit,
			Queued: s.Queued, QueuedBytes: s.QueuedBytes, InFlight: s.InFlight, InFlightBytes: s.InFlightBytes,
			Sessions: s.Sessions, Received: r.Received, Missing: r.Missing, Duplicates: r.Duplicates,
			Lagged: p.lagged.Load(),
		})
	}
	slices.SortFunc(out, func(a, b LinkStats) int { return strings.Compare(a.Peer, b.Peer) })
	return out
}

// Admit implements bus.Remote: a publish from an instance of a cluster-placed capsule whose
// lease this node no longer trusts is refused (and counted as fenced out) before it reaches
// any subscriber, here or on another node.
func (n *Node) Admit(source uuid.UUID) bool {
	c := n.instance(source)
	if c == nil || c.Token() != 0 {
		return true
	}
	n.leases.fencedOut.Add(1)
	return false
}

// Forward implements bus.Remote: it queues msg on the link of every member with a matching
// subscription pattern. It never blocks. Cluster events are not forwarded.
func (n *Node) Forward(msg *bus.Message) {
	if n.index.Len() == 0 || strings.HasPrefix(msg.Topic, eventPrefix) {
		return
	}
	c, drop := n.fenceOut(msg)
	if drop {
		return
	}
	var key string
	var token uint64
	if c != nil {
		key, token = c.key, c.token.Load()
	}
	peers := n.fwd.peers(msg.Topic, func(dst []*peer) []*peer { return n.index.Match(msg.Topic, dst) })
	if len(peers) > 0 {
		msg.Retain() // the links' queues keep msg: pin it (never released, left to the GC)
	}
	for _, p := range peers {
		if p.send.EnqueueFenced(msg, key, token) {
			wake(p.wake)
		}
	}
}

func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Subscribed implements bus.Remote: it adds pattern to this node's interest and returns once
// every member confirmed it (or InterestTimeout passed for a member that did not answer), so a
// message published afterwards on any member reaches the new subscription.
func (n *Node) Subscribed(ctx context.Context, pattern string) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.refs[pattern]++
	if n.refs[pattern] == 1 {
		n.version++
	}
	need := n.version
	var todo []*peer
	for _, p := range n.upPeersLocked() {
		if p.acked < need {
			todo = append(todo, p)
		}
	}
	st := n.stateLocked()
	errs := make(chan error, len(todo))
	n.wg.Add(len(todo)) // under mu with closed false: Close waits for them
	for _, p := range todo {
		go func() {
			defer n.wg.Done()
			_, err := n.pushState(p, st)
			errs <- err
		}()
	}
	n.mu.Unlock()
	for range todo {
		select {
		case err := <-errs:
			if err != nil {
				n.log.Warn("a member did not confirm a subscription", zap.String("pattern", pattern), zap.Error(err))
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Unsubscribed implements bus.Remote: it drops pattern from this node's interest when its last
// subscription is gone and tells the members without waiting.
func (n *Node) Unsubscribed(pattern string) {
	n.mu.Lock()
	if n.closed || n.refs[pattern] == 0 {
		n.mu.Unlock()
		return
	}
	n.refs[pattern]--
	if n.refs[pattern] > 0 {
		n.mu.Unlock()
		return
	}
	delete(n.refs, pattern)
	n.version++
	n.pushAllLocked()
	n.mu.Unlock()
}

// pushState sends st to p and records the version p confirmed; it returns p's state.
func (n *Node) pushState(p *peer, st state) (*ctlMsg, error) {
	body, _ := json.Marshal(ctlMsg{From: n.opts.Node, State: st})
	ctx, cancel := context.WithTimeout(n.ctx, n.opts.InterestTimeout)
	defer cancel()
	reply, err := n.nc.RequestWithContext(ctx, p.ctl, body)
	if err != nil {
		return nil, fmt.Errorf("cluster: state to %s: %w", p.name, err)
	}
	var m ctlMsg
	if err := json.Unmarshal(reply.Data, &m); err != nil {
		return nil, fmt.Errorf("cluster: state reply of %s: %w", p.name, err)
	}
	n.mu.Lock()
	if p.up && m.State.Epoch == p.state.Epoch {
		p.acked = max(p.acked, st.Version)
	}
	n.mu.Unlock()
	return &m, nil
}

// applyStateLocked records a peer's state and updates the remote index. A state of a new
// epoch (the peer restarted) replaces the old one; otherwise only newer versions apply.
func (n *Node) applyStateLocked(p *peer, st state) {
	if p.known && st.Epoch == p.state.Epoch && st.Version <= p.state.Version {
		return
	}
	p.state, p.known = st, true
	n.reindexLocked(p)
}

// reindexLocked makes the index hold p's patterns while p is up, none otherwise.
func (n *Node) reindexLocked(p *peer) {
	var want []string
	if p.up {
		want = p.state.Patterns
	}
	for _, old := range p.indexedAs {
		if !slices.Contains(want, old) {
			n.index.Remove(old, p)
		}
	}
	for _, pat := range want {
		if !slices.Contains(p.indexedAs, pat) {
			if err := n.index.Add(pat, p); err != nil {
				n.log.Warn("a member sent an invalid pattern", zap.String("peer", p.name), zap.String("pattern", pat), zap.Error(err))
			}
		}
	}
	p.indexedAs = slices.Clone(want)
	n.fwd.invalidate()
}

// peerLocked returns the peer named name, creating it (and its writer) on first sight.
func (n *Node) peerLocked(name string) *peer {
	if p := n.peers[name]; p != nil {
		return p
	}
	p := &peer{
		name: name,
		data: subject(n.opts.Name, name, "d"),
		ctl:  subject(n.opts.Name, name, "c"),
		send: icl.NewSender(n.opts.Link),
		wake: make(chan struct{}, 1),
	}
	n.peers[name] = p
	n.wg.Add(1)
	go n.write(p)
	return p
}

// upLocked makes p a member: its link session opens and its patterns enter the index.
func (n *Node) upLocked(p *peer) {
	if p.up {
		return
	}
	p.up, p.since, p.acked = true, time.Now(), 0
	p.send.Open(newEpoch())
	n.reindexLocked(p)
	n.log.Info("member up", zap.String("peer", p.name))
	n.event(TopicMemberUp, map[string]any{"node": p.name, "observer": n.opts.Node})
}

// downLocked ends p's membership: its patterns leave the index and its link session closes,
// counting what was queued or unacked as lost.
func (n *Node) downLocked(p *peer, why string) {
	if !p.up {
		return
	}
	p.up, p.downAt = false, time.Now()
	n.reindexLocked(p)
	unacked, queued := p.send.Close()
	n.log.Info("member down", zap.String("peer", p.name), zap.String("why", why),
		zap.Uint64("lost_unacked", unacked), zap.Uint64("lost_queued", queued))
	n.event(TopicMemberDown, map[string]any{"node": p.name, "observer": n.opts.Node, "why": why,
		"lost_unacked": unacked, "lost_queued": queued})
}

// event queues a cluster event; the caller holds mu and calls flush after unlocking.
func (n *Node) event(topic string, fields map[string]any) {
	n.events = append(n.events, event{topic, fields})
}

// flush publishes the queued cluster events on the attached bus, outside mu.
func (n *Node) flush() {
	n.mu.Lock()
	evs := n.events
	n.events = nil
	n.mu.Unlock()
	b := n.bus.Load()
	if b == nil {
		return
	}
	for _, e := range evs {
		payload, _ := json.Marshal(e.fields)
		if _, err := b.Publish(e.topic, payload, uuid.Nil, bus.System()); err != nil && !errors.Is(err, bus.ErrClosed) {
			n.log.Warn("publish cluster event", zap.String("topic", e.topic), zap.Error(err))
		}
	}
}

// onCtl handles a peer's hello or state push: record its state, make it a member (the request
// proves it is alive and reaches us), and reply with our state.
func (n *Node) onCtl(msg *nats.Msg) {
	var m ctlMsg
	if err := json.Unmarshal(msg.Data, &m); err != nil || validName("node", m.From) != nil || m.From == n.opts.Node {
		n.log.Warn("malformed control request", zap.Error(err))
		return
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	p := n.peerLocked(m.From)
	if p.known && m.State.Epoch != p.state.Epoch && p.up {
		n.downLocked(p, "restarted")
	}
	n.applyStateLocked(p, m.State)
	n.upLocked(p)
	reply, _ := json.Marshal(ctlMsg{From: n.opts.Node, State: n.stateLocked()})
	n.mu.Unlock()
	n.flush()
	_ = msg.Respond(reply)
}

// hello exchanges states with a peer whose route just appeared, until it answers with our
// latest version, the route changes, or the node closes.
func (n *Node) hello(p *peer, serverID string) {
	defer n.wg.Done()
	defer func() {
		n.mu.Lock()
		p.helloing = false
		n.mu.Unlock()
	}()
	deadline := time.Now().Add(10 * time.Second)
	retry := time.NewTimer(0)
	defer retry.Stop()
	for time.Now().Before(deadline) {
		select {
		case <-n.stop:
			return
		case <-retry.C:
		}
		n.mu.Lock()
		if n.closed || p.serverID != serverID {
			n.mu.Unlock()
			return
		}
		st := n.stateLocked()
		n.mu.Unlock()
		body, _ := json.Marshal(ctlMsg{From: n.opts.Node, State: st})
		ctx, cancel := context.WithTimeout(n.ctx, n.opts.InterestTimeout)
		reply, err := n.nc.RequestWithContext(ctx, p.ctl, body)
		cancel()
		var m ctlMsg
		if err == nil {
			err = json.Unmarshal(reply.Data, &m)
		}
		if err != nil {
			retry.Reset(20 * time.Millisecond)
			continue
		}
		n.mu.Lock()
		if n.closed || p.serverID != serverID {
			n.mu.Unlock()
			return
		}
		if p.known && m.State.Epoch != p.state.Epoch && p.up {
			n.downLocked(p, "restarted")
		}
		n.applyStateLocked(p, m.State)
		done := n.version == st.Version
		if done {
			n.upLocked(p)
			p.acked = max(p.acked, st.Version)
		}
		n.mu.Unlock()
		n.flush()
		if done {
			return
		}
		retry.Reset(0)
	}
	n.log.Warn("a peer with a route never answered the hello", zap.String("peer", p.name))
}

// poll compares the server's routes with the members every PollInterval: a new route starts a
// hello, a closed route (the peer died, froze past the route pings, or was cut off) ends the
// membership. It also reports link losses.
func (n *Node) poll() {
	defer n.wg.Done()
	t := time.NewTicker(n.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		if n.opts.Capsules != nil {
			ids := slices.Sorted(slices.Values(n.opts.Capsules()))
			n.mu.Lock()
			changed := !slices.Equal(ids, n.capsules)
			n.mu.Unlock()
			if changed {
				n.SetCapsules(ids)
			}
		}
		rz, err := n.ns.Routez(nil)
		if err != nil {
			continue
		}
		routes := map[string]string{}
		for _, r := range rz.Routes {
			if r.RemoteName != "" && r.RemoteName != n.opts.Node {
				routes[r.RemoteName] = r.RemoteID
			}
		}
		n.mu.Lock()
		if n.closed {
			n.mu.Unlock()
			return
		}
		for name, id := range routes {
			if validName("node", name) != nil {
				continue
			}
			p := n.peerLocked(name)
			if p.serverID == id {
				if !p.up && !p.helloing { // an earlier hello gave up: try again
					p.helloing = true
					n.wg.Add(1)
					go n.hello(p, id)
				}
				continue
			}
			if p.serverID != "" {
				n.downLocked(p, "route replaced")
			}
			p.serverID = id
			if !p.helloing {
				p.helloing = true
				n.wg.Add(1)
				go n.hello(p, id)
			}
		}
		for name, p := range n.peers {
			if _, ok := routes[name]; !ok && p.serverID != "" {
				p.serverID = ""
				n.downLocked(p, "route closed")
			}
		}
		for _, p := range n.peers {
			if p.up && p.serverID == "" && time.Since(p.since) > 2*time.Second {
				n.downLocked(p, "no route")
			}
			if lost := p.send.Stats().Lost(); lost > p.lostSeen {
				n.event(TopicLinkLoss, map[string]any{"node": p.name, "observer": n.opts.Node, "lost": lost - p.lostSeen, "lost_total": lost, "up": p.up})
				p.lostSeen = lost
			}
		}
		n.mu.Unlock()
		n.flush()
	}
}

// write is p's link writer: it sends frames while the window allows.
func (n *Node) write(p *peer) {
	defer n.wg.Done()
	var buf []byte
	for {
		select {
		case <-n.stop:
			return
		case <-p.wake:
		}
		for f := p.send.Next(n.opts.Node); f != nil; f = p.send.Next(n.opts.Node) {
			buf = icl.AppendFrame(buf[:0], f)
			if err := n.nc.Publish(p.data, buf); err != nil {
				// The frame's messages stay in the window and are counted when the
				// session ends; the connection is in-process, so this means closing.
				n.log.Debug("publish frame", zap.String("peer", p.name), zap.Error(err))
				break
			}
		}
	}
}

// onData handles a frame from a peer: sequence check, delivery, loss report, ack.
func (n *Node) onData(msg *nats.Msg) {
	f, err := icl.DecodeFrame(msg.Data)
	if err != nil || validName("node", f.From) != nil {
		n.log.Warn("malformed frame", zap.Error(err))
		return
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	p := n.peerLocked(f.From)
	n.mu.Unlock()
	msgs, ack := p.recv.Accept(f, n.opts.Node)
	var refused map[int]bool
	if len(f.Fences) > 0 {
		skip := len(f.Messages) - len(msgs) // duplicates Accept dropped
		for _, fe := range f.Fences {
			if i := int(fe.Index) - skip; i >= 0 && !n.leases.bumpFence(fe.Key, fe.Token) {
				if refused == nil {
					refused = map[int]bool{}
				}
				refused[i] = true
				n.leases.fencedIn.Add(1)
			}
		}
	}
	if b := n.bus.Load(); b != nil {
		if refused != nil {
			kept := msgs[:0:0]
			for i, m := range msgs {
				if !refused[i] {
					kept = append(kept, m)
				}
			}
			msgs = kept
		}
		b.InjectBatch(msgs)
		for _, l := range f.Losses {
			if b.Lag(l.Topic, l.Count) > 0 {
				p.lagged.Add(l.Count)
			}
		}
	}
	_ = n.nc.Publish(subject(n.opts.Name, f.From, "a"), icl.AppendAck(nil, ack))
}

// onAck handles a peer's ack of our frames.
func (n *Node) onAck(msg *nats.Msg) {
	a, err := icl.DecodeAck(msg.Data)
	if err != nil {
		n.log.Warn("malformed ack", zap.Error(err))
		return
	}
	n.mu.Lock()
	p := n.peers[a.From]
	n.mu.Unlock()
	if p != nil && p.send.Ack(a) {
		wake(p.wake)
	}
}

// Close leaves the cluster: it waits up to 100 ms (or until ctx ends) for the links to drain,
// counts what is still queued or unacked as lost, and shuts the embedded server down. No
// goroutine of the node or of NATS is left when it returns.
func (n *Node) Close(ctx context.Context) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.mu.Unlock()
	drain := time.NewTimer(100 * time.Millisecond)
	defer drain.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		busy := false
		for _, l := range n.Links() {
			if l.Up && l.Queued+l.InFlight > 0 {
				busy = true
			}
		}
		if !busy {
			break
		}
		select {
		case <-tick.C:
		case <-drain.C:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	n.mu.Lock()
	n.closed = true
	for _, p := range n.peers {
		n.downLocked(p, "closing")
	}
	n.mu.Unlock()
	n.cancel()
	close(n.stop)
	n.wg.Wait()
	n.cancel()
	n.flush()
	n.shutdownNATS()
	n.log.Info("node closed")
	return nil
}

// natsLogger forwards the embedded server's warnings and errors to zap.
type natsLogger struct{ log *zap.Logger }

func (l natsLogger) Noticef(string, ...any) {}
func (l natsLogger) Debugf(string, ...any)  {}
func (l natsLogger) Tracef(string, ...any)  {}
func (l natsLogger) Warnf(format string, v ...any) {
	l.log.Warn(fmt.Sprintf(format, v...))
}
func (l natsLogger) Errorf(format string, v ...any) {
	l.log.Error(fmt.Sprintf(format, v...))
}
func (l natsLogger) Fatalf(format string, v ...any) {
	l.log.Error(fmt.Sprintf(format, v...))
}
