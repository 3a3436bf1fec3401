// Package capsuleactor is the capsule actor: the protoactor-go actor that owns one capsule's
// current wasm instance, its host state (a hostfuncs.Instance: handle table,
// subscriptions, caller) and the worker goroutine the guest runs on, with the run-loop
// watchdog and the bounds of instantiation. It reports every change of the capsule's life to
// the capsule's Handle (package actors implements it; actors.Capsule is the one writer of the
// status) and hands every end it did not cause to its supervisor (internal/supervisor) by
// panicking with a *lifecycle.Exit.
package capsuleactor

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/hostfuncs"
	"github.com/astrid-actors/astrid-actors/internal/dispatch"
	"github.com/astrid-actors/astrid-actors/internal/engine"
	"github.com/astrid-actors/astrid-actors/internal/lifecycle"
	"github.com/astrid-actors/astrid-actors/internal/linelog"
	"github.com/astrid-actors/astrid-actors/kv"
	"github.com/astrid-actors/astrid-actors/supervision"
)

// Handle is the capsule's side of its actor (package actors implements it): the one writer of
// the capsule's status, the capsule's accounting over all its instances, and its events.
type Handle interface {
	// Done is closed once the capsule's actor has stopped for good (Stopped).
	Done() <-chan struct{}
	// Record applies a change of the capsule's life to its status. For lifecycle.Starting it
	// returns the previous instance's id (uuid.Nil for the first).
	Record(lifecycle.Change) (previous uuid.UUID)
	// Shared returns the host state every instance of the capsule shares (the rate budget,
	// refusal counts), made with limits on first use.
	Shared(limits hostfuncs.Limits) *hostfuncs.Shared
	// Attach makes host the current instance's host state.
	Attach(host *hostfuncs.Instance)
	// Detach folds the ended instance's counters into the capsule's totals; it is idempotent.
	Detach(host *hostfuncs.Instance)
	// Restarted publishes the event of instance replacing the dead instance previous.
	Restarted(instance, previous uuid.UUID)
	// HealthFailed publishes the event of the watchdog (or the ready timeout) stopping instance.
	HealthFailed(instance uuid.UUID, reason string)
	// Stopped is called once the actor has stopped for good, its instance's memory unmapped:
	// the capsule releases its memory reservation, records lifecycle.ActorStopped and closes
	// Done.
	Stopped()
}

// Config is everything a capsule actor is made from. Restarts reuse it: a new instance gets a
// new UUID, the same compiled module and the same grants.
type Config struct {
	// ID is the capsule id; Owner the principal it runs as.
	ID, Owner string
	// Engine instantiates Module.
	Engine *engine.Engine
	Module *engine.Module
	// MemoryPages is each instance's memory limit.
	MemoryPages uint32
	// Grants, Limits, Config, Bindings and KVBytes are the capsule's host state
	// (hostfuncs.Config).
	Grants   hostfuncs.Grants
	Limits   hostfuncs.Limits
	Config   map[string]string
	Bindings []abi.Binding
	KVBytes  int64
	// Watchdog stops a run loop (or an instantiation) that does not yield; a zero Window
	// disables it.
	Watchdog supervision.Watchdog
	// ReadyTimeout, when positive, bounds instantiation and _initialize.
	ReadyTimeout time.Duration
	// Fence, when set, is told every new instance id (cluster placement).
	Fence func(uuid.UUID)
	// Bus is the topic bus; Ledger sums the counters of the capsule's subscriptions.
	Bus    *bus.Bus
	Ledger *bus.Ledger
	// Port is where a reactor's instance takes interceptor calls.
	Port *dispatch.Port
	// KV returns the runtime's kv store if it is open, else nil.
	KV func() kv.Store
	// Observe, when set, is called after every host call.
	Observe func(fn string, d time.Duration)
	// Log is the capsule's logger; RuntimeLog the runtime's, which the host functions'
	// "capsule" and "astrid.audit.ipc" loggers are named from.
	Log, RuntimeLog *zap.Logger
	// Handle is the capsule's handle.
	Handle Handle
}

// Props returns the props of the capsule actor of cfg.
func Props(cfg Config) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &capsuleActor{cfg: &cfg, handle: cfg.Handle, log: cfg.Log, watchdog: cfg.Watchdog}
	})
}

// Messages the capsule actor sends itself from its worker goroutine and its watchdog timer.
type (
	// instanceRunning: the module is instantiated and initialised; its run loop starts.
	instanceRunning struct{ id uuid.UUID }
	// readySignal: the guest called signal-ready.
	readySignal struct{ id uuid.UUID }
	// instanceExited: the worker is done; the module is closed and subscriptions released.
	instanceExited struct {
		id       uuid.UUID
		err      error
		stopped  bool // the exit was caused by a stop of the capsule
		released hostfuncs.ReleaseStats
	}
	// watchdogTick: time to check that the run loop still yields.
	watchdogTick struct{ id uuid.UUID }
	// initDeadline: the instance's ready timeout passed; is it still instantiating?
	initDeadline struct{ id uuid.UUID }
)

// Causes of an instance's cancellation.
var (
	errStopped  = errors.New("capsule stopped")
	errWatchdog = errors.New("watchdog")
)

// instance is the live wasm instance of a capsule actor.
type instance struct {
	id       uuid.UUID
	host     *hostfuncs.Instance
	calls    chan *dispatch.Call // interceptor calls, served by the worker of a reactor
	cancel   context.CancelCauseFunc
	done     chan struct{} // closed when the worker goroutine has finished
	watchdog *time.Timer   // nil when the watchdog is off
	initDone bool          // instantiation and _initialize returned (instanceRunning seen)
	initStop *time.Timer   // the ready timeout of instantiation and _initialize, or nil
}

// capsuleActor owns one capsule: its current wasm instance, the instance's host state
// (handle table, subscriptions, caller) and its worker goroutine. The guest never runs on
// the actor's goroutine, so Stop and Restart are always handled promptly. Every end of an
// instance that the actor did not cause is handed to the supervisor (panic with
// *lifecycle.Exit).
type capsuleActor struct {
	cfg      *Config
	handle   Handle
	log      *zap.Logger
	watchdog supervision.Watchdog
	inst     *instance
	self     *actor.PID
	root     *actor.RootContext
}

// Receive implements actor.Actor.
func (a *capsuleActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.self, a.root = ctx.Self(), ctx.ActorSystem().Root
		select {
		case <-a.handle.Done():
			// A supervisor's Restart sent just before a Stop was handled is still handled
			// after it: protoactor-go then re-creates the stopped actor and sends Started.
			// The capsule is stopped for good; nothing would stop a new instance.
			a.log.Debug("restart of a stopped capsule ignored")
			return
		default:
		}
		a.start()
	case *instanceRunning:
		if a.current(m.id) {
			a.initialized()
			a.handle.Record(lifecycle.Change{Kind: lifecycle.Running, Instance: m.id})
			if a.cfg.Module.Entry() == engine.EntryNone {
				// A reactor is ready once instantiated; it serves interceptor calls.
				a.cfg.Port.Serve(a.inst.calls, a.inst.done)
				a.handle.Record(lifecycle.Change{Kind: lifecycle.Ready, Instance: m.id})
			}
			if a.inst.watchdog == nil {
				a.armWatchdog()
			}
		}
	case *initDeadline:
		if a.current(m.id) && !a.inst.initDone {
			a.stopRunaway(fmt.Sprintf("instantiation and _initialize did not finish within the ready timeout %v", a.cfg.ReadyTimeout))
		}
	case *readySignal:
		if a.current(m.id) {
			a.handle.Record(lifecycle.Change{Kind: lifecycle.Ready, Instance: m.id})
		}
	case *watchdogTick:
		if a.current(m.id) {
			a.checkWatchdog()
		}
	case *instanceExited:
		if a.current(m.id) {
			a.cfg.Port.Serve(nil, nil)
			a.handle.Detach(a.inst.host)
			a.exited(m)
		}
	case *actor.Stopping:
		a.shutdown()
		a.handle.Record(lifecycle.Change{Kind: lifecycle.Stopping})
	case *actor.Restarting:
		a.shutdown()
	case *actor.Stopped:
		select {
		case <-a.handle.Done():
			// The actor re-created by a late Restart (see Started) was stopped again.
			a.log.Debug("stop of a stopped capsule ignored")
			return
		default:
		}
		a.handle.Stopped() // the instance's memory is unmapped: shutdown waited for it
	}
}

func (a *capsuleActor) current(id uuid.UUID) bool { return a.inst != nil && a.inst.id == id }

// start creates a new instance and runs it on a worker goroutine.
func (a *capsuleActor) start() {
	id := uuid.New()
	if a.cfg.Fence != nil {
		a.cfg.Fence(id)
	}
	self, root := a.self, a.root
	cfg := a.cfg
	host := hostfuncs.NewInstance(hostfuncs.Config{
		CapsuleID:  cfg.ID,
		InstanceID: id,
		Owner:      cfg.Owner,
		Grants:     cfg.Grants,
		Limits:     cfg.Limits,
		Shared:     a.handle.Shared(cfg.Limits),
		Config:     cfg.Config,
		Bindings:   cfg.Bindings,
		Bus:        cfg.Bus,
		Ledger:     cfg.Ledger,
		Logger:     cfg.RuntimeLog.Named("capsule"),
		Audit:      cfg.RuntimeLog.Named("astrid.audit.ipc"),
		Epoch:      cfg.Engine.Epoch(),
		OnReady:    func() { root.Send(self, &readySignal{id: id}) },
		Observe:    cfg.Observe,
		KV:         cfg.KV(), KVQuotaBytes: cfg.KVBytes,
	})
	runCtx, cancel := context.WithCancelCause(context.Background())
	previous := a.handle.Record(lifecycle.Change{Kind: lifecycle.Starting, Instance: id})
	a.inst = &instance{id: id, host: host, cancel: cancel, done: make(chan struct{}), calls: make(chan *dispatch.Call)}
	a.handle.Attach(host)
	a.log.Debug("instance starting", zap.Stringer("instance_id", id))
	if previous != uuid.Nil {
		a.handle.Restarted(id, previous)
	}
	a.armInit()
	go a.work(runCtx, a.inst, func(msg any) { root.Send(self, msg) })
}

// work instantiates the module, runs its entry point and cleans up: close the module, release
// the subscriptions, report. It runs on its own goroutine.
func (a *capsuleActor) work(ctx context.Context, inst *instance, report func(any)) {
	defer close(inst.done)
	log := a.log.With(zap.Stringer("instance_id", inst.id))
	stdout := linelog.New(log, zapcore.InfoLevel, "stdout", hostfuncs.FnWASIStdout, inst.host)
	stderr := linelog.New(log, zapcore.WarnLevel, "stderr", hostfuncs.FnWASIStderr, inst.host)
	mem := engine.NewInstanceMemory(uint64(a.cfg.MemoryPages) * engine.PageSize)
	// The instance is the context's top value, so hostfuncs.InstanceFrom, run by every host
	// call, finds it without looking past another layer.
	callCtx := experimental.WithMemoryAllocator(ctx, mem)
	callCtx = hostfuncs.WithInstance(callCtx, inst.host)
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithStdout(stdout).
		WithStderr(stderr).
		WithSysWalltime().
		WithSysNanotime().
		WithNanosleep(cancellableSleep(ctx, inst.host)).
		WithOsyield(runtime.Gosched).
		WithRandSource(rand.Reader)

	err := a.run(callCtx, cfg, inst, report)
	mem.Release() // the module is closed: its linear memory goes back to the OS now
	stdout.Flush()
	stderr.Flush()
	released := inst.host.Release(context.Background())
	cause := context.Cause(ctx)
	if errors.Is(cause, errWatchdog) {
		err = cause
	}
	report(&instanceExited{id: inst.id, err: err, stopped: errors.Is(cause, errStopped), released: released})
}

func (a *capsuleActor) run(ctx context.Context, cfg wazero.ModuleConfig, inst *instance, report func(any)) error {
	mod, err := a.cfg.Engine.Instantiate(ctx, a.cfg.Module, cfg)
	if err != nil {
		return fmt.Errorf("instantiate: %w", err)
	}
	defer mod.Close(context.Background())
	if a.cfg.Module.Initialize() {
		if _, err := mod.ExportedFunction("_initialize").Call(ctx); err != nil {
			return fmt.Errorf("_initialize: %w", err)
		}
	}
	report(&instanceRunning{id: inst.id})
	switch a.cfg.Module.Entry() {
	case engine.EntryRun:
		_, err = mod.ExportedFunction("run").Call(ctx)
	case engine.EntryStart:
		_, err = mod.ExportedFunction("_start").Call(ctx)
	default:
		// A reactor without a run loop serves interceptor calls until it is stopped.
		for {
			select {
			case <-ctx.Done():
				return nil
			case call := <-inst.calls:
				if err := a.serveHook(ctx, mod, inst, call); err != nil {
					return err
				}
			}
		}
	}
	return err
}

// serveHook calls astrid-hook-trigger for one interceptor call: the action and the payload are
// written into guest memory allocated with the guest's cabi_realloc, the message becomes the
// caller for the duration of the call, and the result (ptr << 32 | len) is read back. A trap or
// a timeout is returned: the instance is dead and the supervisor takes over. Other problems
// (missing exports, a result outside memory, an unknown result action) fail only the call.
func (a *capsuleActor) serveHook(ctx context.Context, mod api.Module, inst *instance, call *dispatch.Call) error {
	reply := func(r dispatch.Result) error {
		call.Reply(r)
		return nil
	}
	alloc, hook := mod.ExportedFunction("cabi_realloc"), mod.ExportedFunction("astrid-hook-trigger")
	if alloc == nil || hook == nil {
		return reply(dispatch.Result{Err: errors.New("missing export astrid-hook-trigger or cabi_realloc")})
	}
	inst.host.SetCaller(call.Caller)
	defer inst.host.SetCaller(nil)
	cctx, cancel := context.WithTimeout(ctx, dispatch.CallTimeout)
	defer cancel()
	write := func(b []byte) (uint32, error) {
		res, err := alloc.Call(cctx, 0, 0, 1, uint64(len(b)))
		if err != nil {
			return 0, fmt.Errorf("cabi_realloc: %w", err)
		}
		ptr := api.DecodeU32(res[0])
		if len(b) > 0 && !mod.Memory().Write(ptr, b) {
			return 0, fmt.Errorf("%w: cabi_realloc returned [%d, +%d), outside memory", errGuestMemory, ptr, len(b))
		}
		return ptr, nil
	}
	ap, err := write([]byte(call.Action))
	if err == nil {
		var pp uint32
		if pp, err = write(call.Payload); err == nil {
			var res []uint64
			res, err = hook.Call(cctx, uint64(ap), uint64(len(call.Action)), uint64(pp), uint64(len(call.Payload)))
			if err == nil {
				return reply(decodeHookResult(mod, res[0]))
			}
			err = fmt.Errorf("astrid-hook-trigger: %w", err)
		}
	}
	call.Reply(dispatch.Result{Err: err})
	if errors.Is(err, errGuestMemory) {
		return nil
	}
	return err // a trap or a timeout: the instance is finished
}

// errGuestMemory marks a guest pointer outside its memory: the call fails, the instance lives.
var errGuestMemory = errors.New("guest memory")

// decodeHookResult reads the result record of astrid-hook-trigger.
func decodeHookResult(mod api.Module, packed uint64) dispatch.Result {
	ptr, n := uint32(packed>>32), uint32(packed)
	if n == 0 {
		return dispatch.Result{Action: abi.HookContinue}
	}
	data, ok := mod.Memory().Read(ptr, n)
	if !ok {
		return dispatch.Result{Err: fmt.Errorf("%w: result [%d, +%d) is outside memory", errGuestMemory, ptr, n)}
	}
	action := abi.HookAction(data[0])
	if action > abi.HookDeny {
		return dispatch.Result{Err: fmt.Errorf("unknown result action %d", action)}
	}
	return dispatch.Result{Action: action, Data: append([]byte(nil), data[1:]...)}
}

// cancellableSleep is WASI's nanosleep for one instance: a guest's time.Sleep counts as
// yielding for the watchdog and ends at once when the capsule stops.
func cancellableSleep(ctx context.Context, host *hostfuncs.Instance) sys.Nanosleep {
	return func(ns int64) {
		host.BeginYield()
		defer host.EndYield()
		t := time.NewTimer(time.Duration(ns))
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
}

// armWatchdog schedules the next watchdog check of a run-loop instance, or of any instance
// still in instantiation and _initialize.
func (a *capsuleActor) armWatchdog() {
	if a.watchdog.Window <= 0 || a.watchdog.Windows <= 0 || (a.cfg.Module.Entry() == engine.EntryNone && a.inst.initDone) {
		return
	}
	id, self, root := a.inst.id, a.self, a.root
	a.inst.watchdog = time.AfterFunc(a.watchdog.Window, func() { root.Send(self, &watchdogTick{id: id}) })
}

// checkWatchdog stops a run loop that has not yielded for the watchdog's limit, as a crash.
func (a *capsuleActor) checkWatchdog() {
	if a.cfg.Module.Entry() == engine.EntryNone && a.inst.initDone {
		return // a tick armed during a reactor's initialization
	}
	h := a.inst.host
	if !a.watchdog.Runaway(time.Now(), h.LastYield(), h.Yielding()) {
		a.armWatchdog()
		return
	}
	reason := fmt.Sprintf("run loop did not yield for %v", a.watchdog.Limit())
	if !a.inst.initDone {
		reason = fmt.Sprintf("instantiation and _initialize did not return or yield for %v", a.watchdog.Limit())
	}
	a.stopRunaway(reason)
}

// stopRunaway stops the current instance as crashed (watchdog or ready timeout).
func (a *capsuleActor) stopRunaway(reason string) {
	a.log.Warn("watchdog stops a runaway capsule", zap.Stringer("instance_id", a.inst.id), zap.String("reason", reason))
	a.handle.HealthFailed(a.inst.id, reason)
	a.inst.cancel(fmt.Errorf("%w: %s", errWatchdog, reason))
}

// exited hands the end of the current instance to the supervisor, unless the actor caused it.
func (a *capsuleActor) exited(m *instanceExited) {
	if m.stopped {
		return
	}
	kind, reason := classifyExit(m.err)
	exit := &lifecycle.Exit{CapsuleID: a.cfg.ID, InstanceID: m.id, Kind: kind, Reason: reason, Err: m.err,
		Discarded: m.released.Discarded}
	ended := lifecycle.Change{Kind: lifecycle.Ended, Instance: m.id}
	if kind == supervision.Crashed {
		a.log.Warn("capsule crashed", zap.Stringer("instance_id", m.id), zap.String("reason", reason),
			zap.Uint64("discarded", m.released.Discarded))
		ended.Reason = reason
	} else {
		a.log.Info("capsule exited", zap.Stringer("instance_id", m.id), zap.String("reason", reason))
	}
	a.handle.Record(ended)
	panic(exit)
}

// classifyExit tells a normal exit (run returned, or WASI exit code 0) from a crash (trap,
// non-zero exit code, failed instantiation, watchdog) and describes it in one line.
func classifyExit(err error) (supervision.ExitKind, string) {
	if err == nil {
		return supervision.Normal, "run returned"
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case 0:
			return supervision.Normal, "exit code 0"
		case sys.ExitCodeDeadlineExceeded:
			return supervision.Crashed, "deadline exceeded"
		case sys.ExitCodeContextCanceled:
			return supervision.Crashed, "cancelled"
		}
		return supervision.Crashed, fmt.Sprintf("exit code %d", exit.ExitCode())
	}
	return supervision.Crashed, firstLine(err.Error())
}

// shutdown cancels the instance (blocking host calls return cancelled, a spinning guest is
// interrupted at its next loop back-edge) and waits until the worker has closed the module and
// released the subscriptions.
func (a *capsuleActor) shutdown() {
	inst := a.inst
	if inst == nil {
		return
	}
	if inst.watchdog != nil {
		inst.watchdog.Stop()
	}
	if inst.initStop != nil {
		inst.initStop.Stop()
	}
	inst.cancel(errStopped)
	select {
	case <-inst.done:
		// The worker has released the subscriptions (the capsule's ledger holds their final
		// counts); fold the instance's own counters in, as the exit message that will not be
		// handled would have.
		a.cfg.Port.Serve(nil, nil)
		a.handle.Detach(inst.host)
	case <-time.After(ShutdownGrace):
		a.log.Error("instance did not stop in time; abandoning its goroutine",
			zap.Stringer("instance_id", inst.id), zap.Duration("grace", ShutdownGrace))
	}
}

// ShutdownGrace bounds how long a stop waits for a guest. Every blocking host call watches the
// instance context, so only a host bug can make this wait expire.
const ShutdownGrace = 5 * time.Second

// firstLine returns the first line of s, which for wazero traps is the error without the wasm
// stack trace.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
