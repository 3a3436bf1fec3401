package actors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/cluster"
	"github.com/astrid-actors/astrid-actors/internal/actorsys"
	"github.com/astrid-actors/astrid-actors/internal/capsuleactor"
	"github.com/astrid-actors/astrid-actors/internal/dispatch"
	"github.com/astrid-actors/astrid-actors/internal/supervisor"
	"github.com/astrid-actors/astrid-actors/kv"
	"github.com/astrid-actors/astrid-actors/manifest"
	"github.com/astrid-actors/astrid-actors/supervision"
)

// Options configure a Runtime. The zero value is valid.
type Options struct {
	// Logger receives all log lines, including the "astrid.audit.ipc" audit lines. Nil
	// discards them.
	Logger *zap.Logger
	// Engine configures the shared wazero runtime (compilation cache, interpreter).
	Engine EngineOptions
	// Bus configures the topic bus.
	Bus bus.Options
	// Supervision is the default policy of capsules whose spec has none; nil means
	// supervision.DefaultPolicy().
	Supervision *supervision.Policy
	// Watchdog is the default run-loop watchdog; nil means supervision.DefaultWatchdog().
	Watchdog *supervision.Watchdog
	// Limits are the default limits of capsules; a zero field of a capsule's own limits takes
	// the value from here, and a zero field here the built-in default.
	Limits Limits
	// Clock stamps published messages (nil means time.Now). Guests' own clocks stay real.
	Clock func() time.Time
	// ObserveHostCall, when set, is called after every host call a capsule makes, with the
	// capsule id, the function name and the call's duration (for latency metrics).
	ObserveHostCall func(capsuleID, fn string, d time.Duration)
	// DataDir holds the node's durable state (the astrid:kv store, DataDir/kv.db); empty
	// means DefaultDataDir(). It is opened when the first capsule importing astrid:kv starts.
	DataDir string
	// KV, when set, is the store of astrid:kv instead of the one in DataDir (e.g. a
	// replicated store); the runtime does not close it.
	KV kv.Store
	// Cluster, when set, makes this runtime one node of a cluster: the bus spans every node
	// (see the cluster package and docs/cluster.md). Nil runs a single node.
	Cluster *cluster.Options
	// MaxMemoryBytes is the host-wide budget of capsule linear memory: the memory limits of
	// all live capsules together must fit, or Start refuses the capsule (ErrMemoryBudget).
	// Zero means DefaultMaxMemoryBytes() (half of the machine's or cgroup's memory).
	MaxMemoryBytes uint64
	// Caps bound what a manifest may ask for (memory, restart intensity, publish budget,
	// module size).
	Caps Caps
}

// Runtime runs capsules: one protoactor-go actor per capsule, under a supervisor actor, all
// sharing one wazero engine and one topic bus.
type Runtime struct {
	opts     Options
	log      *zap.Logger
	policy   supervision.Policy
	watchdog supervision.Watchdog
	system   *actor.ActorSystem
	bus      *bus.Bus
	engine   *Engine
	parent   *actor.PID
	dispatch *dispatch.Dispatcher
	kv       kvState
	cluster  *cluster.Node
	caps     Caps
	budget   *memoryBudget

	mu       sync.Mutex
	placed   map[string]*placed // cluster-placed capsules by id
	capsules map[string]*Capsule
	order    []string // start order, for stopping in reverse
	closed   bool
	// starting counts Starts between their check of closed and the end of their spawn, so
	// Close stops only capsules whose actor exists (or whose spawn failed).
	starting sync.WaitGroup
}

// New starts a runtime.
func New(ctx context.Context, opts Options) (*Runtime, error) {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	caps, err := opts.Caps.withDefaults()
	if err != nil {
		return nil, err
	}
	budget := opts.MaxMemoryBytes
	if budget == 0 {
		budget = DefaultMaxMemoryBytes()
	}
	engine, err := NewEngine(ctx, opts.Engine)
	if err != nil {
		return nil, err
	}
	system := actorsys.New(log)
	busOpts := opts.Bus
	if busOpts.Now == nil {
		busOpts.Now = opts.Clock
	}
	if busOpts.Logger == nil {
		busOpts.Logger = log
	}
	r := &Runtime{opts: opts, log: log, system: system, engine: engine, capsules: map[string]*Capsule{},
		policy: supervision.DefaultPolicy(), watchdog: supervision.DefaultWatchdog(), caps: caps, budget: newMemoryBudget(budget)}
	if opts.Cluster != nil {
		copts := *opts.Cluster
		if copts.Logger == nil {
			copts.Logger = log
		}
		copts.Capsules = r.capsuleIDs
		if r.cluster, err = cluster.Start(ctx, copts); err != nil {
			_ = engine.Close(ctx)
			return nil, err
		}
		busOpts.Remote = r.cluster
	}
	b, err := bus.New(system, busOpts)
	if err != nil {
		r.closeCluster(ctx)
		_ = engine.Close(ctx)
		return nil, err
	}
	r.bus = b
	if r.cluster != nil {
		r.cluster.Attach(b)
	}
	if opts.Supervision != nil {
		if err := opts.Supervision.Validate(); err != nil {
			_ = b.Close(ctx)
			r.closeCluster(ctx)
			_ = engine.Close(ctx)
			return nil, fmt.Errorf("default supervision policy: %w", err)
		}
		r.policy = *opts.Supervision
	}
	if opts.Watchdog != nil {
		r.watchdog = *opts.Watchdog
	}
	r.dispatch = dispatch.New(b, log.Named("dispatch"))
	r.parent, err = system.Root.SpawnNamed(supervisor.Props(log, ""), "capsules")
	if err != nil {
		_ = b.Close(ctx)
		r.closeCluster(ctx)
		_ = engine.Close(ctx)
		return nil, fmt.Errorf("spawn capsule supervisor: %w", err)
	}
	return r, nil
}

// Cluster returns the runtime's cluster node (members, where capsules run, link stats), or nil
// for a single-node runtime.
func (r *Runtime) Cluster() *cluster.Node { return r.cluster }

// capsuleIDs lists the capsules started on this runtime, for the cluster's placement view.
func (r *Runtime) capsuleIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, 0, len(r.order))
	for _, id := range r.order {
		if r.capsules[id].Status().State != StateStandby { // another node runs it
			ids = append(ids, id)
		}
	}
	return ids
}

// closeCluster leaves the cluster, if this runtime is a node of one.
func (r *Runtime) closeCluster(ctx context.Context) {
	if r.cluster != nil {
		if err := r.cluster.Close(ctx); err != nil {
			r.log.Warn("leave the cluster", zap.Error(err))
		}
	}
}

// DispatchStats count interceptor activity.
type DispatchStats struct {
	// Dispatched counts messages that started a chain.
	Dispatched uint64
	// Dropped counts messages that matched bindings but were not intercepted because 4 096
	// chains were in flight.
	Dropped uint64
	// HandlerErrors counts handler calls that failed (trap, timeout, missing instance,
	// malformed result).
	HandlerErrors uint64
}

// DispatchStats returns the interceptor dispatcher's counters.
func (r *Runtime) DispatchStats() DispatchStats { return DispatchStats(r.dispatch.Stats()) }

// Bus returns the runtime's topic bus, for what Publish, Subscribe and Events do not cover
// (taps, custom mailbox limits, bus statistics). RATIONALE.md, "A small public surface".
func (r *Runtime) Bus() *bus.Bus { return r.bus }

// Engine returns the runtime's wazero engine.
func (r *Runtime) Engine() *Engine { return r.engine }

// Compile validates and compiles a capsule module with the runtime's engine.
func (r *Runtime) Compile(ctx context.Context, wasm []byte) (*Module, error) {
	return r.engine.Compile(ctx, wasm)
}

// ErrDuplicate is returned when a capsule id is already running.
var ErrDuplicate = errors.New("capsule id already running")

// ErrRuntimeClosed is returned by calls on a closed runtime.
var ErrRuntimeClosed = errors.New("runtime closed")

// admitLocked (r.mu held) refuses a capsule id when the runtime is closed or the id is
// already taken, by a capsule or a standby handle.
func (r *Runtime) admitLocked(id string) error {
	if r.closed {
		return ErrRuntimeClosed
	}
	if _, dup := r.capsules[id]; dup {
		return fmt.Errorf("capsule %s: %w", id, ErrDuplicate)
	}
	return nil
}

// Start spawns the capsule's actor, which instantiates the module and starts its run loop on a
// goroutine of its own. Start returns once the actor exists; use Capsule.WaitReady to wait for
// the guest's signal-ready.
func (r *Runtime) Start(ctx context.Context, spec CapsuleSpec) (*Capsule, error) {
	spec.Limits = spec.Limits.withDefaults(r.opts.Limits)
	if err := spec.validate(); err != nil {
		return nil, err
	}
	if _, err := r.kvFor(spec.Module); err != nil {
		return nil, fmt.Errorf("capsule %s: %w", spec.ID, err)
	}
	if spec.Placement == manifest.PlacementCluster && r.cluster != nil {
		return r.startPlaced(spec)
	}
	r.mu.Lock()
	if err := r.admitLocked(spec.ID); err != nil {
		r.mu.Unlock()
		return nil, err
	}
	c := newCapsule(r, spec.ID)
	if err := r.budget.reserve(c, uint64(spec.Limits.MemoryPages)*pageSize); err != nil {
		r.mu.Unlock()
		return nil, err
	}
	r.capsules[spec.ID] = c
	r.order = append(r.order, spec.ID)
	r.starting.Add(1)
	r.mu.Unlock()
	defer r.starting.Done()
	if len(spec.Bindings) > 0 {
		if err := r.dispatch.Register(spec.ID, &c.port, spec.Bindings); err != nil {
			c.setSpawned(nil)
			r.forget(c)
			return nil, err
		}
	}

	log := r.log.With(zap.String("capsule_id", spec.ID))
	policy, watchdog := r.policy, r.watchdog
	if spec.Policy != nil {
		policy = *spec.Policy
	}
	if spec.Watchdog != nil {
		watchdog = *spec.Watchdog
	}
	props := capsuleactor.Props(r.actorConfig(&spec, c, log, watchdog))
	reply := make(chan supervisor.Spawned, 1)
	r.system.Root.Send(r.parent, &supervisor.Spawn{Props: props, Name: spec.ID, Child: handle{c}, Policy: policy, Reply: reply})
	select {
	case res := <-reply:
		if res.Err != nil {
			c.setSpawned(nil)
			r.forget(c)
			return nil, fmt.Errorf("capsule %s: spawn: %w", spec.ID, res.Err)
		}
		c.setSpawned(res.PID)
		return c, nil
	case <-ctx.Done():
		// The spawn may still happen; stop whatever it produced. Close waits for this too.
		r.starting.Add(1)
		go func() {
			defer r.starting.Done()
			res := <-reply
			if res.Err != nil {
				c.setSpawned(nil)
			} else {
				c.setSpawned(res.PID)
				_ = c.Stop(context.Background())
			}
			r.forget(c)
		}()
		return nil, fmt.Errorf("capsule %s: start: %w", spec.ID, ctx.Err())
	}
}

// Capsule returns the running capsule with that id, or nil.
func (r *Runtime) Capsule(id string) *Capsule {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.capsules[id]
}

// Capsules returns the status of every capsule, in start order.
func (r *Runtime) Capsules() []Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Status, 0, len(r.order))
	for _, id := range r.order {
		out = append(out, r.capsules[id].Status())
	}
	return out
}

func (r *Runtime) forget(c *Capsule) {
	r.budget.release(c)
	r.dispatch.Unregister(&c.port)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.capsules[c.id] == c {
		delete(r.capsules, c.id)
		r.order = slices.DeleteFunc(r.order, func(id string) bool { return id == c.id })
	}
}

// stopOrder returns the capsules in the order Close stops them: the reverse of their start
// order, so consumers stop before the providers they were loaded after.
func (r *Runtime) stopOrder() []*Capsule {
	r.mu.Lock()
	defer r.mu.Unlock()
	caps := make([]*Capsule, 0, len(r.order))
	for i := len(r.order) - 1; i >= 0; i-- {
		caps = append(caps, r.capsules[r.order[i]])
	}
	return caps
}

// Close stops every capsule in reverse start order, then the bus, the actors, the engine and
// the kv store it opened.
// Nothing of the runtime keeps running afterwards.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	// Cluster-placed capsules give up their leases first (stopping the instances they run).
	r.releasePlaced()
	// Every Start that passed its check of closed finishes its spawn first, so each capsule
	// below has an actor to stop (or none, if its spawn failed).
	r.starting.Wait()
	caps := r.stopOrder()
	var errs []error
	for _, c := range caps {
		if err := c.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	r.dispatch.Close()
	if err := r.system.Root.StopFuture(r.parent).Wait(); err != nil {
		errs = append(errs, fmt.Errorf("stop capsule supervisor: %w", err))
	}
	if err := r.bus.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	r.closeCluster(ctx)
	if err := r.engine.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("close engine: %w", err))
	}
	if err := r.closeKV(); err != nil {
		errs = append(errs, err)
	}
	r.system.Shutdown()
	return errors.Join(errs...)
}

// actorConfig is what the capsule actor of spec is made from.
func (r *Runtime) actorConfig(spec *CapsuleSpec, c *Capsule, log *zap.Logger, watchdog supervision.Watchdog) capsuleactor.Config {
	var observe func(fn string, d time.Duration)
	if obs := r.opts.ObserveHostCall; obs != nil {
		id := spec.ID
		observe = func(fn string, d time.Duration) { obs(id, fn, d) }
	}
	return capsuleactor.Config{
		ID: spec.ID, Owner: spec.Owner,
		Engine: r.engine.e, Module: spec.Module.m, MemoryPages: spec.Limits.MemoryPages,
		Grants: spec.Grants, Limits: spec.Limits.IPC, Config: spec.Config, Bindings: spec.Bindings,
		KVBytes:  spec.Limits.KVBytes,
		Watchdog: watchdog, ReadyTimeout: spec.ReadyTimeout, Fence: spec.fence,
		Bus: r.bus, Ledger: c.ledger, Port: &c.port, KV: r.kvOpened, Observe: observe,
		Log: log, RuntimeLog: r.log, Handle: handle{c},
	}
}
