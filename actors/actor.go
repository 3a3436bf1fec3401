package actors

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
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
	"github.com/astrid-actors/astrid-actors/hostfuncs"
	"github.com/astrid-actors/astrid-actors/internal/engine"
	"github.com/astrid-actors/astrid-actors/internal/linelog"
	"github.com/astrid-actors/astrid-actors/supervision"
)

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
	calls    chan *hookCall // interceptor calls, served by the worker of a reactor
	cancel   context.CancelCauseFunc
	done     chan struct{} // closed when the worker goroutine has finished
	watchdog *time.Timer   // nil when the watchdog is off
	initDone bool          // instantiation and _initialize returned (instanceRunning seen)
	initStop *time.Timer   // the ready timeout of instantiation and _initialize, or nil
}

// capsuleActor owns one capsule: its current wasm instance, the instance's host state
// (handle table, subscriptions, caller) and its worker goroutine. The guest never runs on
// the actor's goroutine, so Stop and Restart are always handled promptly. Every end of an
// instance that the actor did not cause is handed to the supervisor (panic with *exitError).
type capsuleActor struct {
	rt       *Runtime
	spec     *CapsuleSpec
	handle   *Capsule
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
		case <-a.handle.done:
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
			a.handle.record(lifecycle{kind: lifeRunning, instance: m.id})
			if a.spec.Module.m.Entry() == engine.EntryNone {
				// A reactor is ready once instantiated; it serves interceptor calls.
				a.handle.serveCalls(a.inst.calls, a.inst.done)
				a.handle.record(lifecycle{kind: lifeReady, instance: m.id})
			}
			if a.inst.watchdog == nil {
				a.armWatchdog()
			}
		}
	case *initDeadline:
		if a.current(m.id) && !a.inst.initDone {
			a.stopRunaway(fmt.Sprintf("instantiation and _initialize did not finish within the ready timeout %v", a.spec.ReadyTimeout))
		}
	case *readySignal:
		if a.current(m.id) {
			a.handle.record(lifecycle{kind: lifeReady, instance: m.id})
		}
	case *watchdogTick:
		if a.current(m.id) {
			a.checkWatchdog()
		}
	case *instanceExited:
		if a.current(m.id) {
			a.handle.serveCalls(nil, nil)
			a.handle.detach(a.inst.host)
			a.exited(m)
		}
	case *actor.Stopping:
		a.shutdown()
		a.handle.record(lifecycle{kind: lifeStopping})
	case *actor.Restarting:
		a.shutdown()
	case *actor.Stopped:
		select {
		case <-a.handle.done:
			// The actor re-created by a late Restart (see Started) was stopped again.
			a.log.Debug("stop of a stopped capsule ignored")
			return
		default:
		}
		a.rt.budget.release(a.handle) // the instance's memory is unmapped: shutdown waited for it
		a.handle.record(lifecycle{kind: lifeActorStopped})
		close(a.handle.done)
	}
}

func (a *capsuleActor) current(id uuid.UUID) bool { return a.inst != nil && a.inst.id == id }

// start creates a new instance and runs it on a worker goroutine.
func (a *capsuleActor) start() {
	id := uuid.New()
	if a.spec.fence != nil {
		a.spec.fence(id)
	}
	self, root := a.self, a.root
	host := hostfuncs.NewInstance(hostfuncs.Config{
		CapsuleID:  a.spec.ID,
		InstanceID: id,
		Owner:      a.spec.Owner,
		Grants:     a.spec.Grants,
		Limits:     a.spec.Limits.IPC,
		Shared:     a.handle.sharedHost(a.spec.Limits.IPC),
		Config:     a.spec.Config,
		Bindings:   a.spec.Bindings,
		Bus:        a.rt.bus,
		Ledger:     a.handle.ledger,
		Logger:     a.rt.log.Named("capsule"),
		Audit:      a.rt.log.Named("astrid.audit.ipc"),
		Epoch:      a.rt.engine.e.Epoch(),
		OnReady:    func() { root.Send(self, &readySignal{id: id}) },
		Observe:    a.observer(),
		KV:         a.rt.kvOpened(), KVQuotaBytes: a.spec.Limits.KVBytes,
	})
	runCtx, cancel := context.WithCancelCause(context.Background())
	previous := a.handle.record(lifecycle{kind: lifeStarting, instance: id})
	a.inst = &instance{id: id, host: host, cancel: cancel, done: make(chan struct{}), calls: make(chan *hookCall)}
	a.handle.attach(host)
	a.log.Debug("instance starting", zap.Stringer("instance_id", id))
	if previous != uuid.Nil {
		st := a.handle.Status()
		a.rt.publishEvent(TopicRestarted, event{CapsuleID: a.spec.ID, InstanceID: id.String(),
			PreviousInstanceID: previous.String(), RestartCount: st.Restarts})
	}
	a.armInit()
	go a.work(runCtx, a.inst, func(msg any) { root.Send(self, msg) })
}

// observer adapts the runtime's host-call observer to this capsule.
func (a *capsuleActor) observer() func(fn string, d time.Duration) {
	obs := a.rt.opts.ObserveHostCall
	if obs == nil {
		return nil
	}
	id := a.spec.ID
	return func(fn string, d time.Duration) { obs(id, fn, d) }
}

// work instantiates the module, runs its entry point and cleans up: close the module, release
// the subscriptions, report. It runs on its own goroutine.
func (a *capsuleActor) work(ctx context.Context, inst *instance, report func(any)) {
	defer close(inst.done)
	log := a.log.With(zap.Stringer("instance_id", inst.id))
	stdout := linelog.New(log, zapcore.InfoLevel, "stdout", hostfuncs.FnWASIStdout, inst.host)
	stderr := linelog.New(log, zapcore.WarnLevel, "stderr", hostfuncs.FnWASIStderr, inst.host)
	callCtx := hostfuncs.WithInstance(ctx, inst.host)
	mem := engine.NewInstanceMemory(uint64(a.spec.Limits.MemoryPages) * engine.PageSize)
	callCtx = experimental.WithMemoryAllocator(callCtx, mem)
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
	mod, err := a.rt.engine.e.Instantiate(ctx, a.spec.Module.m, cfg)
	if err != nil {
		return fmt.Errorf("instantiate: %w", err)
	}
	defer mod.Close(context.Background())
	if a.spec.Module.m.Initialize() {
		if _, err := mod.ExportedFunction("_initialize").Call(ctx); err != nil {
			return fmt.Errorf("_initialize: %w", err)
		}
	}
	report(&instanceRunning{id: inst.id})
	switch a.spec.Module.m.Entry() {
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
func (a *capsuleActor) serveHook(ctx context.Context, mod api.Module, inst *instance, call *hookCall) error {
	reply := func(r hookResult) error {
		call.reply <- r
		return nil
	}
	alloc, hook := mod.ExportedFunction("cabi_realloc"), mod.ExportedFunction("astrid-hook-trigger")
	if alloc == nil || hook == nil {
		return reply(hookResult{err: errors.New("missing export astrid-hook-trigger or cabi_realloc")})
	}
	inst.host.SetCaller(call.caller)
	defer inst.host.SetCaller(nil)
	cctx, cancel := context.WithTimeout(ctx, hookTimeout)
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
	ap, err := write([]byte(call.action))
	if err == nil {
		var pp uint32
		if pp, err = write(call.payload); err == nil {
			var res []uint64
			res, err = hook.Call(cctx, uint64(ap), uint64(len(call.action)), uint64(pp), uint64(len(call.payload)))
			if err == nil {
				return reply(decodeHookResult(mod, res[0]))
			}
			err = fmt.Errorf("astrid-hook-trigger: %w", err)
		}
	}
	call.reply <- hookResult{err: err}
	if errors.Is(err, errGuestMemory) {
		return nil
	}
	return err // a trap or a timeout: the instance is finished
}

// errGuestMemory marks a guest pointer outside its memory: the call fails, the instance lives.
var errGuestMemory = errors.New("guest memory")

// decodeHookResult reads the result record of astrid-hook-trigger.
func decodeHookResult(mod api.Module, packed uint64) hookResult {
	ptr, n := uint32(packed>>32), uint32(packed)
	if n == 0 {
		return hookResult{action: abi.HookContinue}
	}
	data, ok := mod.Memory().Read(ptr, n)
	if !ok {
		return hookResult{err: fmt.Errorf("%w: result [%d, +%d) is outside memory", errGuestMemory, ptr, n)}
	}
	action := abi.HookAction(data[0])
	if action > abi.HookDeny {
		return hookResult{err: fmt.Errorf("unknown result action %d", action)}
	}
	return hookResult{action: action, data: append([]byte(nil), data[1:]...)}
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
	if a.watchdog.Window <= 0 || a.watchdog.Windows <= 0 || (a.spec.Module.m.Entry() == engine.EntryNone && a.inst.initDone) {
		return
	}
	id, self, root := a.inst.id, a.self, a.root
	a.inst.watchdog = time.AfterFunc(a.watchdog.Window, func() { root.Send(self, &watchdogTick{id: id}) })
}

// checkWatchdog stops a run loop that has not yielded for the watchdog's limit, as a crash.
func (a *capsuleActor) checkWatchdog() {
	if a.spec.Module.m.Entry() == engine.EntryNone && a.inst.initDone {
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
	a.rt.publishEvent(TopicHealthFailed, event{CapsuleID: a.spec.ID, InstanceID: a.inst.id.String(), Reason: reason,
		RestartCount: a.handle.Status().Restarts})
	a.inst.cancel(fmt.Errorf("%w: %s", errWatchdog, reason))
}

// exited hands the end of the current instance to the supervisor, unless the actor caused it.
func (a *capsuleActor) exited(m *instanceExited) {
	if m.stopped {
		return
	}
	kind, reason := classifyExit(m.err)
	exit := &exitError{CapsuleID: a.spec.ID, InstanceID: m.id, Kind: kind, Reason: reason, Err: m.err,
		Discarded: m.released.Discarded}
	ended := lifecycle{kind: lifeEnded, instance: m.id}
	if kind == supervision.Crashed {
		a.log.Warn("capsule crashed", zap.Stringer("instance_id", m.id), zap.String("reason", reason),
			zap.Uint64("discarded", m.released.Discarded))
		ended.reason = reason
	} else {
		a.log.Info("capsule exited", zap.Stringer("instance_id", m.id), zap.String("reason", reason))
	}
	a.handle.record(ended)
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
		a.handle.serveCalls(nil, nil)
		a.handle.detach(inst.host)
	case <-time.After(shutdownGrace):
		a.log.Error("instance did not stop in time; abandoning its goroutine",
			zap.Stringer("instance_id", inst.id), zap.Duration("grace", shutdownGrace))
	}
}

// shutdownGrace bounds how long a stop waits for a guest. Every blocking host call watches the
// instance context, so only a host bug can make this wait expire.
const shutdownGrace = 5 * time.Second
