package cluster

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/astrid-actors/astrid-actors/bus"
)

// TopicCapsuleMoved is published (system principal, local bus, never forwarded) by a node that
// took over the lease of a cluster-placed capsule another node held.
const TopicCapsuleMoved = "astrid.v1.cluster.capsule_moved"

// LeaseBucket is the JetStream key-value bucket holding the placement leases: one key per
// claimed name, with replicas = min(3, members).
const LeaseBucket = "astrid_leases"

// leaseMargin is subtracted from the TTL on the owner's side: the owner stops trusting its lease
// before any standby may take it over.
const leaseMargin = 100 * time.Millisecond

// leaseValue is a lease entry's value. Token is the claim revision (0 in the entry that made
// the claim: its own revision is the token).
type leaseValue struct {
	Node  string `json:"node"`
	Epoch uint64 `json:"epoch"`
	Token uint64 `json:"token"`
}

// leaseKey maps a claimed name to a key-value key (hex keeps every name a valid key).
func leaseKey(name string) string { return "c_" + hex.EncodeToString([]byte(name)) }

// entryToken is the fence token of a lease entry.
func entryToken(e jetstream.KeyValueEntry) (leaseValue, uint64) {
	var v leaseValue
	if e == nil || e.Operation() != jetstream.KeyValuePut || json.Unmarshal(e.Value(), &v) != nil {
		return v, 0
	}
	if v.Token == 0 {
		return v, e.Revision()
	}
	return v, v.Token
}

// seenRev is a lease revision and when this node first saw it.
type seenRev struct {
	rev    uint64
	at     time.Time
	holder string // node of the last put entry
}

// lastHolder returns the node that last held key, as the watcher saw it.
func (l *leaseState) lastHolder(key string) string {
	l.fmu.Lock()
	defer l.fmu.Unlock()
	return l.seen[key].holder
}

// seenAt returns when this node's watcher delivered revision rev of key (zero if it did not).
func (l *leaseState) seenAt(key string, rev uint64) time.Time {
	l.fmu.Lock()
	defer l.fmu.Unlock()
	if s := l.seen[key]; s.rev == rev {
		return s.at
	}
	return time.Time{}
}

// LeaseHolder returns the node that holds (or last held) the lease on name and its newest
// fence token, as this node's watch of the lease bucket saw them ("" and 0 when unknown).
func (n *Node) LeaseHolder(name string) (node string, token uint64) {
	l := &n.leases
	key := leaseKey(name)
	l.fmu.Lock()
	defer l.fmu.Unlock()
	return l.seen[key].holder, l.fences[key]
}

// LeaseStats are a node's placement and fencing counters.
type LeaseStats struct {
	// Claims counts leases this node acquired; Lost those it lost (renewal refused, or not
	// renewed within the TTL).
	Claims   uint64 `json:"claims"`
	Renewals uint64 `json:"renewals"`
	Lost     uint64 `json:"lost"`
	// FencedOut counts messages of a local instance whose lease was no longer valid, dropped
	// before they left this node; FencedIn counts messages from other nodes refused for a
	// stale lease token.
	FencedOut uint64 `json:"fenced_out"`
	FencedIn  uint64 `json:"fenced_in"`
	// Bucket is true once the lease bucket is open on this node; Replicas is its replica count.
	Bucket   bool `json:"bucket"`
	Replicas int  `json:"replicas"`
}

// leaseState is the node's placement machinery.
type leaseState struct {
	js jetstream.JetStream

	kv       atomic.Pointer[jetstream.KeyValue]
	replicas atomic.Int64

	fmu    sync.Mutex
	fences map[string]uint64  // newest token known per lease key
	seen   map[string]seenRev // latest revision per key, when the watcher delivered it

	instances atomic.Pointer[map[uuid.UUID]*Claim] // fenced local publishers; copy on write
	imu       sync.Mutex

	claims, renewals, lost, fencedOut, fencedIn atomic.Uint64
}

// JetStream returns the node's JetStream context (on the node's in-process connection to its
// embedded server), for other replicated state such as a key-value store. JetStream is
// clustered over the node's routes; it needs a quorum of the meta group (two nodes at first).
func (n *Node) JetStream() jetstream.JetStream { return n.leases.js }

// Conn returns the node's in-process connection to its embedded NATS server. The node owns
// it: do not close it.
func (n *Node) Conn() *nats.Conn { return n.nc }

// LeaseStats returns the node's placement and fencing counters.
func (n *Node) LeaseStats() LeaseStats {
	l := &n.leases
	return LeaseStats{Claims: l.claims.Load(), Renewals: l.renewals.Load(), Lost: l.lost.Load(), FencedOut: l.fencedOut.Load(),
		FencedIn: l.fencedIn.Load(), Bucket: l.kv.Load() != nil, Replicas: int(l.replicas.Load())}
}

// bumpFence records token as known for key and reports whether token is not stale.
func (l *leaseState) bumpFence(key string, token uint64) bool {
	l.fmu.Lock()
	defer l.fmu.Unlock()
	if token < l.fences[key] {
		return false
	}
	l.fences[key] = token
	return true
}

// manageLeases opens (creating or scaling up) the lease bucket with replicas = min(3, members)
// and watches it, so this node knows the newest token of every lease.
func (n *Node) manageLeases() {
	defer n.wg.Done()
	l := &n.leases
	t := time.NewTicker(min(n.opts.LeaseRenew, DefaultLeaseRenew))
	defer t.Stop()
	var watcher jetstream.KeyWatcher
	var updates <-chan jetstream.KeyValueEntry
	defer func() {
		if watcher != nil {
			_ = watcher.Stop()
		}
	}()
	for {
		select {
		case <-n.stop:
			return
		case e, ok := <-updates:
			if !ok {
				updates = nil
				watcher = nil
				continue
			}
			if e != nil {
				if _, tok := entryToken(e); tok != 0 {
					l.bumpFence(e.Key(), tok)
				}
				v, _ := entryToken(e)
				l.fmu.Lock()
				if old := l.seen[e.Key()]; e.Revision() > old.rev {
					if v.Node == "" {
						v.Node = old.holder
					}
					l.seen[e.Key()] = seenRev{e.Revision(), time.Now(), v.Node}
				}
				l.fmu.Unlock()
			}
			continue
		case <-t.C:
		}
		if want := min(3, len(n.Members())); int64(want) > l.replicas.Load() {
			if err := n.openBucket(want); err != nil {
				n.log.Debug("lease bucket not ready", zap.Int("replicas", want), zap.Error(err))
				continue
			}
		}
		if watcher == nil {
			if kv := l.kv.Load(); kv != nil {
				w, err := (*kv).WatchAll(n.ctx)
				if err == nil {
					watcher, updates = w, w.Updates()
				}
			}
		}
	}
}

// openBucket opens the lease bucket, creating it with want replicas when it does not exist and
// scaling it up to want when it has fewer (never down: a node that left may come back).
func (n *Node) openBucket(want int) error {
	l := &n.leases
	ctx, cancel := context.WithTimeout(n.ctx, 2*time.Second)
	defer cancel()
	kv, err := l.js.KeyValue(ctx, LeaseBucket)
	switch {
	case errors.Is(err, jetstream.ErrBucketNotFound):
		kv, err = l.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: LeaseBucket, Replicas: want, Storage: jetstream.MemoryStorage, History: 1,
			Description: "astrid-actors placement leases",
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = l.js.KeyValue(ctx, LeaseBucket)
		}
	}
	if err != nil {
		return err
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return err
	}
	have := st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Replicas
	if have < want {
		cfg := st.(*jetstream.KeyValueBucketStatus).Config()
		cfg.Replicas = want
		if kv, err = l.js.UpdateKeyValue(ctx, cfg); err != nil {
			return fmt.Errorf("scale the lease bucket to %d replicas: %w", want, err)
		}
		have = want
	}
	if l.kv.Load() == nil {
		l.kv.Store(&kv)
	}
	if old := l.replicas.Swap(int64(have)); old != int64(have) {
		n.log.Info("lease bucket ready", zap.Int("replicas", have))
	}
	return nil
}

// Claim is this node's bid for a cluster-wide lease on a name: at most one node of the cluster
// holds it at a time. Create it with Node.Claim.
type Claim struct {
	n        *Node
	name     string
	key      string
	onOwn    func(token uint64)
	onLose   func(why string)
	release  chan struct{}
	done     chan struct{}
	token    atomic.Uint64 // fence token while owned, 0 otherwise
	validTil atomic.Int64  // unix ns until which the lease is trusted here
	rel      sync.Once
}

// Claim starts bidding for the lease on name in the background. When this node acquires it,
// onOwn runs with the lease's fence token; when it loses it (a renewal refused, or none
// succeeded within the TTL less a margin — after a freeze or a partition), onLose runs at once
// and the node bids again. Both run on the claim's goroutine, one at a time. A standby node
// takes the lease over when it saw no renewal for LeaseTTL, or at once when the owner's route
// closed after the last renewal it saw (SIGKILL). Release ends the claim.
func (n *Node) Claim(name string, onOwn func(token uint64), onLose func(why string)) (*Claim, error) {
	if name == "" || len(name) > 255 {
		return nil, fmt.Errorf("%w: claim name must be 1-255 bytes", ErrInvalidOptions)
	}
	c := &Claim{n: n, name: name, key: leaseKey(name), onOwn: onOwn, onLose: onLose,
		release: make(chan struct{}), done: make(chan struct{})}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, errors.New("cluster: node closed")
	}
	n.wg.Add(1)
	go c.run()
	return c, nil
}

// Name returns the claimed name.
func (c *Claim) Name() string { return c.name }

// Token returns the fence token while this node holds the lease (and trusts it), else 0.
func (c *Claim) Token() uint64 {
	if time.Now().UnixNano() > c.validTil.Load() {
		return 0
	}
	return c.token.Load()
}

// Owned reports whether this node holds the lease now.
func (c *Claim) Owned() bool { return c.Token() != 0 }

// Release ends the claim: a held lease is given up (deleted, so a standby takes it at its next
// check) after onLose ran. It waits for the claim's goroutine.
func (c *Claim) Release() {
	c.rel.Do(func() { close(c.release) })
	<-c.done
}

// Fence marks the bus messages published with source id src as those of the instance holding
// this claim's lease: until Unfence, they carry its token to the other nodes, and they are
// dropped (counted as FencedOut) when published while the lease is not held.
func (c *Claim) Fence(src uuid.UUID) { c.n.setInstance(src, c) }

// Unfence forgets src (after its instance stopped).
func (c *Claim) Unfence(src uuid.UUID) { c.n.setInstance(src, nil) }

func (n *Node) setInstance(src uuid.UUID, c *Claim) {
	l := &n.leases
	l.imu.Lock()
	defer l.imu.Unlock()
	m := map[uuid.UUID]*Claim{}
	if old := l.instances.Load(); old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	if c == nil {
		delete(m, src)
	} else {
		m[src] = c
	}
	l.instances.Store(&m)
}

// instance returns the claim fencing messages of src, or nil.
func (n *Node) instance(src uuid.UUID) *Claim {
	m := n.leases.instances.Load()
	if m == nil || len(*m) == 0 {
		return nil
	}
	return (*m)[src]
}

func (c *Claim) run() {
	n := c.n
	defer n.wg.Done()
	defer close(c.done)
	t := time.NewTicker(n.opts.LeaseRenew)
	defer t.Stop()
	now := make(chan struct{}, 1) // the first bid does not wait for a tick
	now <- struct{}{}
	var (
		lastRev uint64     // owned: revision of our last write
		seenRev uint64     // standby: the revision last observed
		seenAt  time.Time  // standby: when it was first observed
		holder  leaseValue // standby: the last holder observed (for capsule_moved)
	)
	self := leaseValue{Node: n.opts.Node, Epoch: n.epoch}
	lose := func(why string) {
		c.token.Store(0)
		c.validTil.Store(0)
		lastRev, seenRev = 0, 0
		n.leases.lost.Add(1)
		n.log.Warn("lease lost", zap.String("name", c.name), zap.String("why", why))
		c.onLose(why)
	}
	own := func(kv jetstream.KeyValue, rev uint64, sent time.Time, prev leaseValue) {
		c.validTil.Store(sent.Add(n.opts.LeaseTTL - leaseMargin).UnixNano())
		c.token.Store(rev)
		lastRev = rev
		n.leases.bumpFence(c.key, rev)
		n.leases.claims.Add(1)
		n.log.Info("lease acquired", zap.String("name", c.name), zap.Uint64("token", rev), zap.String("from", prev.Node))
		if prev.Node != "" && prev.Node != n.opts.Node {
			n.mu.Lock()
			n.event(TopicCapsuleMoved, map[string]any{"capsule": c.name, "from": prev.Node, "to": n.opts.Node, "token": rev})
			n.mu.Unlock()
			n.flush()
		}
		c.onOwn(rev)
	}
	for {
		select {
		case <-n.stop:
			if c.token.Load() != 0 {
				lose("node closing")
			}
			return
		case <-c.release:
			if c.token.Load() != 0 {
				rev := lastRev
				lose("released")
				if kv := n.leases.kv.Load(); kv != nil {
					ctx, cancel := context.WithTimeout(n.ctx, n.opts.LeaseTTL)
					_ = (*kv).Delete(ctx, c.key, jetstream.LastRevision(rev))
					cancel()
				}
			}
			return
		case <-t.C:
		case <-now:
		}
		kvp := n.leases.kv.Load()
		if kvp == nil {
			continue
		}
		kv := *kvp
		ctx, cancel := context.WithTimeout(n.ctx, n.opts.LeaseRenew)
		if c.token.Load() != 0 {
			if time.Now().UnixNano() > c.validTil.Load() {
				cancel()
				lose("not renewed within the lease TTL")
				continue
			}
			v := self
			v.Token = c.token.Load()
			body, _ := json.Marshal(v)
			sent := time.Now()
			rev, err := kv.Update(ctx, c.key, body, lastRev)
			cancel()
			switch {
			case err == nil:
				n.leases.renewals.Add(1)
				lastRev = rev
				c.validTil.Store(sent.Add(n.opts.LeaseTTL - leaseMargin).UnixNano())
			case errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists):
				// An earlier renewal whose reply timed out may have been written: the
				// lease is still ours if the entry is.
				ctx, cancel := context.WithTimeout(n.ctx, n.opts.LeaseRenew)
				e, gerr := kv.Get(ctx, c.key)
				cancel()
				if gerr == nil {
					if v, tok := entryToken(e); v.Node == self.Node && v.Epoch == self.Epoch && tok == c.token.Load() {
						lastRev = e.Revision()
						continue
					}
				}
				lose("lease taken over")
			default:
				n.log.Info("lease renewal failed", zap.String("name", c.name), zap.Error(err))
			}
			continue
		}
		e, err := kv.Get(ctx, c.key)
		body, _ := json.Marshal(self)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound) || err == nil && e.Operation() != jetstream.KeyValuePut:
			// The holder may have released the lease before this node ever read it: the
			// watcher's last holder stands in, read before Create, since the watcher may
			// deliver this node's own entry as soon as it is written.
			last := n.leases.lastHolder(c.key)
			sent := time.Now()
			rev, err := kv.Create(ctx, c.key, body)
			cancel()
			if err == nil {
				if holder.Node == "" {
					holder.Node = last
				}
				own(kv, rev, sent, holder)
			}
		case err == nil:
			prev, tok := entryToken(e)
			holder = prev
			if tok != 0 {
				n.leases.bumpFence(c.key, tok)
			}
			now := time.Now()
			if e.Revision() != seenRev {
				seenRev, seenAt = e.Revision(), now
				// The watcher usually delivered it earlier than this poll read it.
				if w := n.leases.seenAt(c.key, seenRev); !w.IsZero() && w.Before(seenAt) {
					seenAt = w
				}
			}
			if now.Sub(seenAt) < n.opts.LeaseTTL && !n.gone(prev.Node, seenAt) {
				cancel()
				continue
			}
			n.log.Debug("lease takeover", zap.String("name", c.name), zap.String("from", prev.Node),
				zap.Duration("unrenewed", now.Sub(seenAt)))
			rev, err := kv.Update(ctx, c.key, body, e.Revision())
			cancel()
			if err == nil {
				own(kv, rev, now, prev)
			} else {
				n.log.Debug("lease takeover failed", zap.String("name", c.name), zap.Error(err))
			}
		default:
			n.log.Debug("lease read failed", zap.String("name", c.name), zap.Error(err))
			cancel()
		}
	}
}

// gone reports whether node was a member whose route closed (it died or was cut off) after
// this node observed the lease revision it is judging (seen): a revision observed later proves
// the owner renewed after its route closed, and a node that was itself cut off (frozen) sees
// every revision anew after it resumes, so neither takes a lease over early.
func (n *Node) gone(node string, seen time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.peers[node]
	return p != nil && !p.up && p.serverID == "" && !p.downAt.IsZero() && seen.Before(p.downAt)
}

// fenceOut reports whether msg must not leave this node: its source is a fenced instance whose
// lease is not held (counted).
func (n *Node) fenceOut(msg *bus.Message) (*Claim, bool) {
	c := n.instance(msg.Source)
	if c == nil {
		return nil, false
	}
	if c.Token() == 0 {
		n.leases.fencedOut.Add(1)
		return c, true
	}
	return c, false
}
