package actors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/hostfuncs"
	"github.com/astrid-actors/astrid-actors/manifest"
	"github.com/astrid-actors/astrid-actors/supervision"
)

// LoadReport says what a Load did.
type LoadReport struct {
	// Started are the capsules started, in start order: the load order, except that a capsule
	// waiting for the readiness of a capsule it imports from is passed by later ones that do not.
	Started []string
	// NotReady are started run-loop capsules that did not call signal-ready within their
	// ready timeout, in start order. They keep running; this is reported, not fatal.
	NotReady []string
	// Warnings are the manifests' and the ordering's warnings.
	Warnings []string
	// Errors are the capsules that could not be loaded (bad manifest, bad wasm, duplicate id,
	// refused combination); the others were loaded regardless.
	Errors []error
}

// ErrHandlersInRunLoop is returned for a manifest that declares interceptor handlers for a
// capsule with a run loop. Astrid 0.8 accepts such manifests and silently never calls the
// handlers; this runtime refuses them instead.
var ErrHandlersInRunLoop = errors.New("a run-loop capsule cannot have interceptor handlers")

// Load discovers every Capsule.toml under dirs (manifest.Discover), orders them
// (manifest.Order: uplinks first, providers before consumers) and starts them in that order,
// each once the capsules it imports from (manifest.Providers) are ready: a run-loop capsule is
// ready when it calls signal-ready, or is given up on when its [supervision] ready_timeout
// passes (then it is reported in NotReady and its importers start regardless). Capsules that
// do not depend on each other do not wait for each other, so a capsule that never becomes
// ready delays only its importers. Once every started capsule is ready or given up on,
// astrid.v1.capsules_loaded is published. Capsules that fail to load (including a missing
// component file) are reported in LoadReport.Errors and skipped. Load itself fails when ctx
// ends or the runtime is closed, and, before anything is started, when one of dirs is missing
// or not a directory (manifest.CheckDir; the error names it).
func (r *Runtime) Load(ctx context.Context, dirs ...string) (*LoadReport, error) {
	for _, dir := range dirs {
		if err := manifest.CheckDir(dir); err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
	}
	ms, warnings, errs := manifest.Discover(dirs...)
	ordered, orderWarnings := manifest.Order(ms)
	rep := &LoadReport{Warnings: append(warnings, orderWarnings...), Errors: errs}
	for _, m := range ordered {
		rep.Warnings = append(rep.Warnings, m.Warnings...)
		for _, w := range m.Warnings {
			r.log.Warn("manifest", zap.String("warning", w))
		}
	}
	if err := r.startAll(ctx, ordered, rep); err != nil {
		return rep, err
	}
	r.publishEvent(TopicCapsulesLoaded, loadedEvent{Status: "ready", Capsules: orEmpty(rep.Started), NotReady: orEmpty(rep.NotReady)})
	return rep, nil
}

// readiness is the end of one capsule's readiness wait during Load.
type readiness struct {
	i   int // index in the load order
	err error
}

// startAll starts the capsules of ordered (in load order) as their providers become ready and
// waits for every started one's readiness, filling in rep. A capsule waits only for its
// providers earlier in the order (on an import cycle, the later ones cannot be waited for).
// Starting is done here, one capsule after another, so start order (and Close's reverse
// order) is the load order except where a capsule waits for a provider.
func (r *Runtime) startAll(ctx context.Context, ordered []*manifest.Manifest, rep *LoadReport) error {
	n := len(ordered)
	providers := manifest.Providers(ordered)
	resolved := make([]bool, n) // ready, not ready or not loaded: importers may start
	notReady := make([]bool, n)
	ids := make([]string, n)
	var startedAt []int // indexes of started capsules, in start order
	wctx, cancel := context.WithCancel(ctx)
	results := make(chan readiness, n)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	startable := func(i int) bool {
		for _, p := range providers[i] {
			if p < i && !resolved[p] {
				return false
			}
		}
		return true
	}
	pending := make([]int, n)
	for i := range pending {
		pending[i] = i
	}
	waiting := 0
	for len(pending) > 0 || waiting > 0 {
		var later []int
		for _, i := range pending {
			if !startable(i) {
				later = append(later, i)
				continue
			}
			m := ordered[i]
			c, err := r.LoadManifest(ctx, m)
			if err != nil {
				if errors.Is(err, ErrRuntimeClosed) || ctx.Err() != nil {
					return err
				}
				r.log.Error("capsule not loaded", zap.String("manifest", m.Path), zap.Error(err))
				rep.Errors = append(rep.Errors, err)
				resolved[i] = true
				continue
			}
			ids[i] = c.ID()
			rep.Started = append(rep.Started, c.ID())
			startedAt = append(startedAt, i)
			waiting++
			wg.Add(1)
			go func() {
				defer wg.Done()
				results <- readiness{i: i, err: r.waitLoaded(wctx, c, m.Supervision.ReadyTimeout)}
			}()
		}
		pending = later
		if waiting == 0 {
			continue // what is left imports only from capsules that failed to load: next pass
		}
		var res readiness
		select {
		case res = <-results:
		case <-ctx.Done():
			return ctx.Err()
		}
		waiting--
		resolved[res.i] = true
		if res.err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.log.Warn("capsule not ready", zap.String("capsule_id", ids[res.i]), zap.Error(res.err))
			notReady[res.i] = true
		}
	}
	for _, i := range startedAt {
		if notReady[i] {
			rep.NotReady = append(rep.NotReady, ids[i])
		}
	}
	return nil
}

type loadedEvent struct {
	Status   string   `json:"status"`
	Capsules []string `json:"capsules"`
	NotReady []string `json:"not_ready"`
}

// orEmpty makes a nil list an empty one, so that event fields are arrays, never null.
func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// waitLoaded waits for a capsule's readiness up to timeout.
func (r *Runtime) waitLoaded(ctx context.Context, c *Capsule, timeout time.Duration) error {
	if c.Status().State == StateStandby {
		return nil // a cluster-placed capsule another node runs
	}
	if timeout <= 0 {
		timeout = manifest.DefaultSupervision().ReadyTimeout
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return c.WaitReady(wctx)
}

// LoadManifest reads, verifies and compiles the manifest's component and starts the capsule.
// It does not wait for readiness.
func (r *Runtime) LoadManifest(ctx context.Context, m *manifest.Manifest) (*Capsule, error) {
	m, err := r.capModule(m)
	if err != nil {
		return nil, err
	}
	wasm, err := m.ReadWasm()
	if err != nil {
		return nil, err
	}
	return r.LoadCapsule(ctx, m, wasm)
}

// LoadCapsule starts a capsule from a parsed manifest and its wasm bytes (for embedders that
// keep capsules elsewhere than on disk). It does not wait for readiness.
func (r *Runtime) LoadCapsule(ctx context.Context, m *manifest.Manifest, wasm []byte) (*Capsule, error) {
	mod, err := r.Compile(ctx, wasm)
	if err != nil {
		return nil, fmt.Errorf("capsule %s (%s): %w", m.Package.Name, m.Path, err)
	}
	spec, err := SpecFromManifest(m, mod)
	if err != nil {
		return nil, err
	}
	if err := r.capSpec(&spec); err != nil {
		return nil, err
	}
	return r.Start(ctx, spec)
}

// SpecFromManifest turns a manifest and its compiled module into a CapsuleSpec: grants from
// [publish], [subscribe] and [capabilities], limits from [limits], config from [env], policy
// and watchdog from [supervision], interceptor bindings from [subscribe] handlers. It refuses a
// run-loop module with handlers (ErrHandlersInRunLoop) and a module with handlers that lacks
// the astrid-hook-trigger and cabi_realloc exports.
func SpecFromManifest(m *manifest.Manifest, mod *Module) (CapsuleSpec, error) {
	id := m.Package.Name
	interceptors := m.Interceptors()
	if len(interceptors) > 0 {
		if mod.Entry() != EntryNone {
			return CapsuleSpec{}, fmt.Errorf("capsule %s (%s): %w: it exports a run loop and declares %d [subscribe] handler(s); "+
				"serve the handlers from a separate capsule without run, or subscribe to the topics from the run loop",
				id, m.Path, ErrHandlersInRunLoop, len(interceptors))
		}
		if !mod.HasInterceptorExports() {
			return CapsuleSpec{}, fmt.Errorf("capsule %s (%s): declares [subscribe] handlers but does not export astrid-hook-trigger and cabi_realloc",
				id, m.Path)
		}
	}
	bindings := make([]abi.Binding, len(interceptors))
	for i, ic := range interceptors {
		bindings[i] = abi.Binding{HandleID: uint64(i), Priority: ic.Priority, Action: ic.Action, Topic: ic.Topic}
	}
	sv := m.Supervision
	restart, err := supervision.ParseRestart(sv.Restart)
	if err != nil {
		return CapsuleSpec{}, fmt.Errorf("capsule %s (%s): [supervision]: %w", id, m.Path, err)
	}
	onFailure, err := supervision.ParseOnFailure(sv.OnFailure)
	if err != nil {
		return CapsuleSpec{}, fmt.Errorf("capsule %s (%s): [supervision]: %w", id, m.Path, err)
	}
	policy := &supervision.Policy{
		Restart:        restart,
		MaxRestarts:    sv.MaxRestarts,
		Within:         sv.Within,
		BackoffInitial: sv.BackoffInitial,
		BackoffMax:     sv.BackoffMax,
		Jitter:         supervision.DefaultJitter,
		OnFailure:      onFailure,
		Group:          sv.Group,
	}
	return CapsuleSpec{
		ID:     id,
		Module: mod,
		Grants: hostfuncs.Grants{Publish: m.PublishACL(), Subscribe: m.SubscribeACL(), Uplink: m.Capabilities.Uplink},
		Limits: Limits{
			MemoryPages: m.Limits.MemoryPages,
			IPC: hostfuncs.Limits{
				MaxSubscriptions:         m.Limits.MaxSubscriptions,
				ThroughputBytesPerSec:    int(m.Limits.IPCThroughputBytesPerSec),
				ThroughputMessagesPerSec: int(m.Limits.IPCThroughputMessagesPerSec),
			},
			KVBytes: m.Limits.KVBytes,
		},
		Config:       m.Config(),
		Bindings:     bindings,
		Policy:       policy,
		Watchdog:     &supervision.Watchdog{Window: sv.WatchdogWindow, Windows: sv.WatchdogWindows},
		ReadyTimeout: sv.ReadyTimeout,
		Placement:    sv.Placement,
	}, nil
}

// Unload stops the capsule with that id and removes it from the runtime.
func (r *Runtime) Unload(ctx context.Context, id string) error {
	wasPlaced := r.unplace(id)
	c := r.Capsule(id)
	if c == nil && wasPlaced {
		return nil
	}
	if c == nil {
		return fmt.Errorf("unload %s: %w", id, ErrNotFound)
	}
	if err := c.Stop(ctx); err != nil {
		return err
	}
	r.forget(c)
	return nil
}

// ErrNotFound is returned for an unknown capsule id.
var ErrNotFound = errors.New("no such capsule")
