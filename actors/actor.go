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
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/astrid-actors/astrid-actors/hostfuncs"
)

// Messages the capsule actor sends itself from its worker goroutine.
type (
	// instanceRunning: the module is instantiated and initialised; its run loop starts.
	instanceRunning struct{ id uuid.UUID }
	// readySignal: the guest called signal-ready.
	readySignal struct{ id uuid.UUID }
	// instanceExited: the worker is done; the module is closed and subscriptions released.
	instanceExited struct {
		id       uuid.UUID
		err      error
		stopped  bool // the exit was caused by our own cancellation
		released hostfuncs.ReleaseStats
	}
)

// instance is the live wasm instance of a capsule actor.
type instance struct {
	id     uuid.UUID
	host   *hostfuncs.Instance
	cancel context.CancelFunc
	done   chan struct{} // closed when the worker goroutine has finished
}

// capsuleActor owns one capsule: its current wasm instance, the instance's host state
// (handle table, subscriptions, caller) and its worker goroutine. The guest never runs on
// the actor's goroutine, so Stop and Restart are always handled promptly.
type capsuleActor struct {
	rt     *Runtime
	spec   *CapsuleSpec
	handle *Capsule
	log    *zap.Logger
	inst   *instance
}

// Receive implements actor.Actor.
func (a *capsuleActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.start(ctx)
	case *instanceRunning:
		if a.current(m.id) {
			a.handle.update(func(s *Status) {
				if s.State == StateStarting {
					s.State = StateRunning
				}
			})
		}
	case *readySignal:
		if a.current(m.id) {
			a.handle.markReady(m.id, StateReady)
		}
	case *instanceExited:
		if a.current(m.id) {
			a.exited(ctx, m)
		}
	case *actor.Stopping:
		a.shutdown()
		a.handle.update(func(s *Status) { s.State = StateStopped })
	case *actor.Restarting:
		a.shutdown()
	case *actor.Stopped:
		a.handle.markReady(a.handle.Status().InstanceID, StateStopped)
		close(a.handle.done)
	}
}

func (a *capsuleActor) current(id uuid.UUID) bool { return a.inst != nil && a.inst.id == id }

// start creates a new instance and runs it on a worker goroutine.
func (a *capsuleActor) start(ctx actor.Context) {
	id := uuid.New()
	self, root := ctx.Self(), ctx.ActorSystem().Root
	host := hostfuncs.NewInstance(hostfuncs.Config{
		CapsuleID:  a.spec.ID,
		InstanceID: id,
		Owner:      a.spec.Owner,
		Grants:     a.spec.Grants,
		Limits:     a.spec.Limits.IPC,
		Config:     a.spec.Config,
		Bindings:   a.spec.Bindings,
		Bus:        a.rt.bus,
		Logger:     a.rt.log.Named("capsule"),
		Epoch:      a.rt.engine.Epoch(),
		OnReady:    func() { root.Send(self, &readySignal{id: id}) },
	})
	runCtx, cancel := context.WithCancel(context.Background())
	a.inst = &instance{id: id, host: host, cancel: cancel, done: make(chan struct{})}
	a.handle.newInstance(id)
	a.log.Debug("instance starting", zap.Stringer("instance_id", id))
	go a.work(runCtx, a.inst, func(msg any) { root.Send(self, msg) })
}

// work instantiates the module, runs its entry point and cleans up: close the module, release
// the subscriptions, report. It runs on its own goroutine.
func (a *capsuleActor) work(ctx context.Context, inst *instance, report func(any)) {
	defer close(inst.done)
	log := a.log.With(zap.Stringer("instance_id", inst.id))
	stdout := newLineLogger(log, zapcore.InfoLevel, "stdout")
	stderr := newLineLogger(log, zapcore.WarnLevel, "stderr")
	callCtx := hostfuncs.WithInstance(ctx, inst.host)
	callCtx = experimental.WithMemoryAllocator(callCtx, limitedAllocator{limitBytes: uint64(a.spec.Limits.MemoryPages) * pageSize})
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithStdout(stdout).
		WithStderr(stderr).
		WithSysWalltime().
		WithSysNanotime().
		WithNanosleep(cancellableSleep(ctx)).
		WithOsyield(runtime.Gosched).
		WithRandSource(rand.Reader)

	err := a.run(callCtx, cfg, inst, report)
	stdout.Flush()
	stderr.Flush()
	released := inst.host.Release(context.Background())
	report(&instanceExited{id: inst.id, err: err, stopped: ctx.Err() != nil, released: released})
}

func (a *capsuleActor) run(ctx context.Context, cfg wazero.ModuleConfig, inst *instance, report func(any)) error {
	mod, err := a.rt.engine.rt.InstantiateModule(ctx, a.spec.Module.compiled, cfg)
	if err != nil {
		return fmt.Errorf("instantiate: %w", err)
	}
	defer mod.Close(context.Background())
	if a.spec.Module.initialize {
		if _, err := mod.ExportedFunction("_initialize").Call(ctx); err != nil {
			return fmt.Errorf("_initialize: %w", err)
		}
	}
	report(&instanceRunning{id: inst.id})
	switch a.spec.Module.entry {
	case EntryRun:
		_, err = mod.ExportedFunction("run").Call(ctx)
	case EntryStart:
		_, err = mod.ExportedFunction("_start").Call(ctx)
	default:
		// A reactor without a run loop lives until it is stopped.
		<-ctx.Done()
	}
	return err
}

// cancellableSleep is WASI's nanosleep for one instance: a guest's time.Sleep ends at once
// when the capsule stops.
func cancellableSleep(ctx context.Context) sys.Nanosleep {
	return func(ns int64) {
		t := time.NewTimer(time.Duration(ns))
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
}

// exited handles the end of the current instance: a normal exit stops the capsule, a crash
// panics with a CrashError so the supervisor strategy decides what happens next.
func (a *capsuleActor) exited(ctx actor.Context, m *instanceExited) {
	a.handle.update(func(s *Status) { s.Discarded += m.released.Discarded })
	if m.stopped {
		return
	}
	crash, reason := classifyExit(m.err)
	if !crash {
		a.log.Info("capsule exited", zap.Stringer("instance_id", m.id), zap.String("reason", reason))
		a.handle.update(func(s *Status) { s.State = StateExited })
		a.handle.markReady(m.id, StateExited)
		ctx.Stop(ctx.Self())
		return
	}
	cerr := &CrashError{CapsuleID: a.spec.ID, InstanceID: m.id, Reason: reason, Err: m.err}
	a.log.Warn("capsule crashed", zap.Stringer("instance_id", m.id), zap.String("reason", reason),
		zap.Uint64("discarded", m.released.Discarded))
	a.handle.update(func(s *Status) {
		s.State = StateCrashed
		s.LastError = reason
	})
	a.handle.markReady(m.id, StateCrashed)
	panic(cerr)
}

// classifyExit tells a normal exit (run returned, or WASI exit code 0) from a crash (trap,
// non-zero exit code, failed instantiation) and describes it in one line.
func classifyExit(err error) (crash bool, reason string) {
	if err == nil {
		return false, "run returned"
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case 0:
			return false, "exit code 0"
		case sys.ExitCodeDeadlineExceeded:
			return true, "deadline exceeded"
		case sys.ExitCodeContextCanceled:
			return true, "cancelled"
		}
		return true, fmt.Sprintf("exit code %d", exit.ExitCode())
	}
	return true, firstLine(err.Error())
}

// shutdown cancels the instance (blocking host calls return cancelled, a spinning guest is
// interrupted at its next loop back-edge) and waits until the worker has closed the module and
// released the subscriptions.
func (a *capsuleActor) shutdown() {
	inst := a.inst
	if inst == nil {
		return
	}
	inst.cancel()
	select {
	case <-inst.done:
	case <-time.After(shutdownGrace):
		a.log.Error("instance did not stop in time; abandoning its goroutine",
			zap.Stringer("instance_id", inst.id), zap.Duration("grace", shutdownGrace))
	}
}

// shutdownGrace bounds how long a stop waits for a guest. Every blocking host call watches the
// instance context, so only a host bug can make this wait expire.
const shutdownGrace = 5 * time.Second
