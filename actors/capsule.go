package actors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/hostfuncs"
	"github.com/astrid-actors/astrid-actors/internal/dispatch"
	"github.com/astrid-actors/astrid-actors/internal/lifecycle"
	"github.com/astrid-actors/astrid-actors/supervision"
)

// Limits bound one capsule. Zero fields take the defaults.
type Limits struct {
	// MemoryPages is the instance's memory limit in 64 KiB pages (default DefaultMemoryPages,
	// at most MaxMemoryPages).
	MemoryPages uint32
	// IPC are the bus limits (subscriptions, throughput, mailbox sizes).
	IPC hostfuncs.Limits
	// KVBytes caps each of the capsule's astrid:kv namespaces, keys plus values (default
	// kv.DefaultQuotaBytes, 64 MiB).
	KVBytes int64
}

// withDefaults fills l's zero fields from d.
func (l Limits) withDefaults(d Limits) Limits {
	if l.MemoryPages == 0 {
		l.MemoryPages = d.MemoryPages
	}
	if l.IPC.MaxSubscriptions == 0 {
		l.IPC.MaxSubscriptions = d.IPC.MaxSubscriptions
	}
	if l.IPC.ThroughputBytesPerSec == 0 {
		l.IPC.ThroughputBytesPerSec = d.IPC.ThroughputBytesPerSec
	}
	if l.IPC.ThroughputMessagesPerSec == 0 {
		l.IPC.ThroughputMessagesPerSec = d.IPC.ThroughputMessagesPerSec
	}
	if l.IPC.RateWindow == 0 {
		l.IPC.RateWindow = d.IPC.RateWindow
	}
	if l.IPC.LogLinesPerSec == 0 {
		l.IPC.LogLinesPerSec = d.IPC.LogLinesPerSec
	}
	if l.IPC.LogBytesPerSec == 0 {
		l.IPC.LogBytesPerSec = d.IPC.LogBytesPerSec
	}
	if l.IPC.Mailbox.Bytes == 0 {
		l.IPC.Mailbox.Bytes = d.IPC.Mailbox.Bytes
	}
	if l.KVBytes == 0 {
		l.KVBytes = d.KVBytes
	}
	if l.IPC.Mailbox.PerPrincipal == 0 {
		l.IPC.Mailbox.PerPrincipal = d.IPC.Mailbox.PerPrincipal
	}
	return l
}

// CapsuleSpec is everything a capsule instance is made from. Restarts reuse it: a new
// instance gets a new UUID, the same compiled module and the same grants.
type CapsuleSpec struct {
	// ID is the capsule id (the manifest's package name).
	ID string
	// Module is the compiled guest.
	Module *Module
	// Grants are the capsule's bus permissions.
	Grants hostfuncs.Grants
	// Limits bound the capsule's memory and bus use.
	Limits Limits
	// Config are the values served by get-config.
	Config map[string]string
	// Bindings are the capsule's interceptor bindings.
	Bindings []abi.Binding
	// Owner is the principal the capsule runs as (hostfuncs.DefaultOwner when empty).
	Owner string
	// Policy is the capsule's supervision policy; nil means the runtime's default.
	Policy *supervision.Policy
	// Placement is manifest.PlacementCluster for a capsule one node of the cluster runs (the
	// others stand by, StateStandby); empty or manifest.PlacementNode runs it on this node.
	Placement string
	// fence, when set, is told every new instance id (cluster placement: its messages carry
	// the lease token).
	fence func(uuid.UUID)
	// Watchdog stops a run loop that stops yielding; nil means the runtime's default, a zero
	// Window disables it. It also covers instantiation and _initialize.
	Watchdog *supervision.Watchdog
	// ReadyTimeout, when positive, bounds instantiation and _initialize: an instance that has
	// not finished them by then is stopped as crashed ([supervision] ready_timeout).
	ReadyTimeout time.Duration
}

func (s *CapsuleSpec) validate() error {
	if s.ID == "" {
		return errors.New("capsule spec: empty id")
	}
	if s.Module == nil {
		return fmt.Errorf("capsule %s: no module", s.ID)
	}
	if s.Limits.MemoryPages == 0 {
		s.Limits.MemoryPages = DefaultMemoryPages
	}
	if s.Limits.MemoryPages > MaxMemoryPages {
		return fmt.Errorf("capsule %s: memory limit %d pages is over the maximum %d", s.ID, s.Limits.MemoryPages, MaxMemoryPages)
	}
	if s.Module.m.MinPages() > s.Limits.MemoryPages {
		return fmt.Errorf("capsule %s: module needs %d memory pages at start, limit is %d", s.ID, s.Module.m.MinPages(), s.Limits.MemoryPages)
	}
	if s.Policy != nil {
		if err := s.Policy.Validate(); err != nil {
			return fmt.Errorf("capsule %s: supervision policy: %w", s.ID, err)
		}
	}
	return nil
}

// State is where a capsule is in its life.
type State int

// Capsule states.
const (
	// StateStarting: an instance is being created and initialised.
	StateStarting State = iota
	// StateRunning: the instance runs (its run loop executes, or a reactor awaits calls).
	StateRunning
	// StateReady: the instance called signal-ready.
	StateReady
	// StateRestarting: the instance ended and a new one will start after the backoff.
	StateRestarting
	// StateExited: the run loop returned normally and the policy does not restart it.
	StateExited
	// StateFailed: the capsule exceeded its restart intensity (or its group failed) and
	// stays down; see Status.LastError.
	StateFailed
	// StateStopped: the capsule was stopped.
	StateStopped
	// StateStandby: a cluster-placed capsule another node runs; this node takes over when
	// that node fails.
	StateStandby
)

var stateNames = [...]string{"starting", "running", "ready", "restarting", "exited", "failed", "stopped", "standby"}

// String returns the state's lower-case name.
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// Status is a snapshot of one capsule.
type Status struct {
	ID         string
	State      State
	InstanceID uuid.UUID
	// Instances counts the instances created so far (1 + restarts).
	Instances int
	// Restarts counts the restarts the supervisor decided.
	Restarts int
	// LastError describes the last crash, if any.
	LastError string
	// Traffic is the capsule's message accounting over all its instances.
	Traffic
	// Refused are the exact counts of its refused host calls, by function and code, over all
	// its instances.
	Refused []hostfuncs.Refusal `json:"refused,omitempty"`
}

// Traffic is a capsule's message accounting, summed over all its instances and all their
// subscriptions, open or closed. At every moment, and after every kind of instance end (return,
// trap, stop, restart, unload, Runtime.Close):
//
//	Matched == Delivered + Dropped + Discarded + Queued   (Unaccounted() == 0)
type Traffic struct {
	// Published counts the capsule's accepted publishes.
	Published uint64 `json:"published"`
	// Matched counts messages offered to the capsule's subscriptions (one per subscription
	// whose pattern matched).
	Matched uint64 `json:"matched"`
	// Delivered counts messages written into the capsule's envelopes.
	Delivered uint64 `json:"delivered"`
	// Dropped counts messages lost to full mailboxes: Evicted + Oversize.
	Dropped uint64 `json:"dropped"`
	// Evicted counts messages dropped to make room (byte budget or per-flow cap).
	Evicted uint64 `json:"evicted"`
	// Oversize counts messages larger than a whole mailbox.
	Oversize uint64 `json:"oversize"`
	// Discarded counts messages still queued when a subscription closed (its instance ended or
	// the guest dropped it), and messages offered to a subscription while it was closing.
	Discarded uint64 `json:"discarded"`
	// Queued counts messages waiting in the current instance's mailboxes.
	Queued uint64 `json:"queued"`
}

// Unaccounted returns Matched - (Delivered + Dropped + Discarded + Queued), which is 0 unless
// a message was lost (positive) or counted twice (negative).
func (t Traffic) Unaccounted() int64 {
	return int64(t.Matched) - int64(t.Delivered+t.Dropped+t.Discarded) - int64(t.Queued)
}

// trafficOf converts a ledger snapshot.
func trafficOf(s bus.MailboxStats, published uint64) Traffic {
	return Traffic{Published: published, Matched: s.Offered, Delivered: s.Delivered,
		Dropped: s.Evicted + s.Oversize, Evicted: s.Evicted, Oversize: s.Oversize,
		Discarded: s.Discarded, Queued: uint64(s.Queued)}
}

// Capsule is the handle of one running capsule.
type Capsule struct {
	id string
	rt *Runtime
	// ledger sums the counters of every subscription of every instance of the capsule.
	ledger *bus.Ledger

	mu      sync.Mutex
	pid     *actor.PID    // set once the actor is spawned; guarded by mu
	spawned chan struct{} // closed once the spawn succeeded (pid set) or failed
	status  Status
	ready   chan struct{} // closed when the current instance signals ready or ends
	done    chan struct{} // closed when the capsule actor has stopped

	// port is where the current instance of an interceptor capsule takes the dispatcher's
	// calls while it runs.
	port dispatch.Port

	host  *hostfuncs.Instance // the current instance's host state
	ended hostfuncs.Counters  // host-side counters of ended instances
	// shared is the host state every instance shares: the rate budget, refusal counts.
	shared *hostfuncs.Shared
}

func newCapsule(rt *Runtime, id string) *Capsule {
	return &Capsule{
		id:      id,
		rt:      rt,
		ledger:  bus.NewLedger(),
		status:  Status{ID: id, State: StateStarting},
		spawned: make(chan struct{}),
		ready:   make(chan struct{}),
		done:    make(chan struct{}),
	}
}

// ID returns the capsule id.
func (c *Capsule) ID() string { return c.id }

// Status returns a snapshot of the capsule's status. Its Traffic balances
// (Traffic.Unaccounted() == 0) in every snapshot.
func (c *Capsule) Status() Status {
	c.mu.Lock()
	st := c.status
	published := c.hostCountersLocked().Published
	shared := c.shared
	c.mu.Unlock()
	st.Traffic = trafficOf(c.ledger.Stats(), published)
	if shared != nil {
		st.Refused = shared.Refused()
	}
	return st
}

// sharedHost returns the host state the capsule's instances share, made on first use: the
// rate limiter's budget belongs to the capsule, so a restart does not refill it.
func (c *Capsule) sharedHost(limits hostfuncs.Limits) *hostfuncs.Shared {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shared == nil {
		c.shared = hostfuncs.NewShared(limits, hostfuncs.SharedOptions{})
	}
	return c.shared
}

// hostCountersLocked sums the host-side counters of every instance; c.mu is held. Delivered
// there is counted by the host functions as they write envelopes, independently of the
// mailboxes' Delivered (the chaos test compares them).
func (c *Capsule) hostCountersLocked() hostfuncs.Counters {
	t := c.ended
	if c.host != nil {
		t = addCounters(t, c.host.Counters())
	}
	return t
}

func addCounters(a, b hostfuncs.Counters) hostfuncs.Counters {
	return hostfuncs.Counters{Published: a.Published + b.Published, Delivered: a.Delivered + b.Delivered,
		Dropped: a.Dropped + b.Dropped}
}

// attach makes host the current instance's host state, folding in a previous one that was not
// detached (an instance abandoned after the shutdown grace).
func (c *Capsule) attach(host *hostfuncs.Instance) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.host != nil {
		c.ended = addCounters(c.ended, c.host.Counters())
	}
	c.host = host
}

// detach folds the ended instance's counters into the totals. Every end path calls it (the
// instance's exit, a stop, a restart); it is idempotent.
func (c *Capsule) detach(host *hostfuncs.Instance) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.host != host {
		return
	}
	c.ended = addCounters(c.ended, host.Counters())
	c.host = nil
}

// setSpawned records the outcome of the actor's spawn: pid, or nil when it failed (the capsule
// is then done: there is no actor to stop).
func (c *Capsule) setSpawned(pid *actor.PID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.spawned:
		return
	default:
	}
	c.pid = pid
	close(c.spawned)
	if pid == nil {
		close(c.done)
	}
}

// Done is closed once the capsule's actor has stopped for good.
func (c *Capsule) Done() <-chan struct{} { return c.done }

// ErrNotReady is returned by WaitReady when the instance ended before it signalled ready.
var ErrNotReady = errors.New("capsule ended before signalling ready")

// WaitReady blocks until the current instance calls signal-ready, it ends (ErrNotReady), or
// ctx is done.
func (c *Capsule) WaitReady(ctx context.Context) error {
	c.mu.Lock()
	ready := c.ready
	c.mu.Unlock()
	select {
	case <-ready:
	case <-ctx.Done():
		return fmt.Errorf("capsule %s: wait ready: %w", c.id, ctx.Err())
	}
	if st := c.Status(); st.State != StateReady {
		return fmt.Errorf("capsule %s: %w (%s: %s)", c.id, ErrNotReady, st.State, st.LastError)
	}
	return nil
}

// Stop stops the capsule: blocking host calls return cancelled at once, the instance is
// closed (even a guest spinning in a loop), its subscriptions are released, and then Stop
// returns. Stopping a stopped capsule is a no-op. Stop is safe concurrently with Start (it
// waits for the spawn), with other Stops, Unload and Runtime.Close.
func (c *Capsule) Stop(ctx context.Context) error {
	select {
	case <-c.spawned:
	case <-ctx.Done():
		return fmt.Errorf("capsule %s: stop: %w", c.id, ctx.Err())
	}
	select {
	case <-c.done:
		c.rt.forget(c)
		return nil
	default:
	}
	c.mu.Lock()
	pid := c.pid
	c.mu.Unlock()
	c.rt.system.Root.Stop(pid)
	select {
	case <-c.done:
		c.rt.forget(c)
		return nil
	case <-ctx.Done():
		return fmt.Errorf("capsule %s: stop: %w", c.id, ctx.Err())
	}
}

// record applies a lifecycle change, reported by the capsule actor (its instances' progress)
// or the supervisor (its decisions), to the capsule's status: the one writer of Status, so
// every transition of State is in this function. For lifecycle.Starting it returns the
// previous instance's id (uuid.Nil for the first).
func (c *Capsule) record(l lifecycle.Change) (previous uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := &c.status
	current := l.Instance == st.InstanceID
	switch l.Kind {
	case lifecycle.Starting:
		previous = st.InstanceID
		st.InstanceID = l.Instance
		st.Instances++
		st.State = StateStarting
		select {
		case <-c.ready:
			c.ready = make(chan struct{})
		default:
		}
	case lifecycle.Running:
		if current && st.State == StateStarting {
			st.State = StateRunning
		}
	case lifecycle.Ready:
		if current {
			st.State = StateReady
			c.closeReadyLocked()
		}
	case lifecycle.Ended:
		if current {
			if l.Reason != "" {
				st.LastError = l.Reason
			}
			if st.State != StateReady {
				st.State = StateRestarting
			}
			c.closeReadyLocked()
		}
	case lifecycle.Restart:
		st.State, st.Restarts = StateRestarting, st.Restarts+1
	case lifecycle.End:
		st.State = StateExited
	case lifecycle.Fail:
		st.State, st.LastError = StateFailed, l.Reason
	case lifecycle.Stopping:
		if st.State != StateFailed && st.State != StateExited {
			st.State = StateStopped
		}
	case lifecycle.ActorStopped:
		c.closeReadyLocked()
	}
	return previous
}

// closeReadyLocked wakes WaitReady for the current instance; c.mu is held.
func (c *Capsule) closeReadyLocked() {
	select {
	case <-c.ready:
	default:
		close(c.ready)
	}
}
