// Package supervisor holds the supervisor actors of capsule actors: the root supervisor
// ("capsules") and one per capsule group ("group-<name>"). They apply each capsule's
// supervision policy (package supervision) to protoactor-go's failure handling and report
// their decisions to the capsule's handle (Child, implemented by package actors).
package supervisor

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/astrid-actors/astrid-actors/internal/lifecycle"
	"github.com/astrid-actors/astrid-actors/supervision"
)

// Child is the handle of a supervised capsule, the supervisor's side of it (package actors
// implements it).
type Child interface {
	// ID is the capsule id.
	ID() string
	// Record applies a decision of the supervisor to the capsule's status.
	Record(lifecycle.Change) uuid.UUID
	// Exited publishes the event of an instance's end (crashed or exited); restarts is the
	// number of restarts so far.
	Exited(exit *lifecycle.Exit, restarts int)
	// Failed publishes the event of the capsule's failure; its status already says failed.
	Failed(reason string)
}

// Spawn asks a supervisor actor to spawn a capsule actor as its child (or as the child of the
// capsule's group actor, made on first use) and to supervise it with Policy.
type Spawn struct {
	Props  *actor.Props
	Name   string
	Child  Child
	Policy supervision.Policy
	// Reply receives the outcome; it must have room for it (capacity 1).
	Reply chan<- Spawned
}

// Spawned is the outcome of a Spawn.
type Spawned struct {
	PID *actor.PID
	Err error
}

// supervisorActor supervises capsule actors. The runtime has one root supervisor ("capsules")
// for capsules supervised alone (one-for-one) and, under it, one supervisor per capsule group
// ("group-<name>"), whose children are restarted all together (all-for-one).
//
// protoactor-go's own strategies count restarts and back off linearly without a cap or a
// failed state, so the supervisor implements actor.SupervisorStrategy itself (protoactor
// uses the actor value as the strategy when it implements the interface) and applies
// supervision.Tracker decisions: restart after an exponential backoff (RestartChildren from a
// timer; the failed child's mailbox stays suspended meanwhile, while Stop still works), end,
// fail, or fail the whole group.
type supervisorActor struct {
	log       *zap.Logger
	group     string // "" for the root supervisor
	children  map[string]*childInfo
	groups    map[string]*actor.PID  // root only
	timers    map[uint64]*time.Timer // pending backoff timers
	nextTimer uint64
	self      *actor.PID
	root      *actor.RootContext
}

// childInfo is what a supervisor knows of one capsule actor.
type childInfo struct {
	pid     *actor.PID
	handle  Child
	tracker *supervision.Tracker
}

// Props returns the props of a supervisor actor: group "" is the root supervisor, which makes
// the group supervisors under it.
func Props(log *zap.Logger, group string) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &supervisorActor{log: log, group: group, children: map[string]*childInfo{},
			groups: map[string]*actor.PID{}, timers: map[uint64]*time.Timer{}}
	})
}

var _ actor.SupervisorStrategy = (*supervisorActor)(nil)

// Receive implements actor.Actor.
func (s *supervisorActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.self, s.root = ctx.Self(), ctx.ActorSystem().Root
	case *Spawn:
		s.spawn(ctx, m)
	case *timerFired:
		delete(s.timers, m.id)
	case *actor.Terminated:
		delete(s.children, m.Who.Id)
	case *actor.Stopping:
		for _, t := range s.timers {
			t.Stop()
		}
	}
}

func (s *supervisorActor) spawn(ctx actor.Context, m *Spawn) {
	if g := m.Policy.Group; s.group == "" && g != "" {
		pid := s.groups[g]
		if pid == nil {
			var err error
			pid, err = ctx.SpawnNamed(Props(s.log, g), "group-"+g)
			if err != nil {
				m.Reply <- Spawned{Err: fmt.Errorf("spawn group %s: %w", g, err)}
				return
			}
			s.groups[g] = pid
		}
		ctx.Send(pid, m)
		return
	}
	pid, err := ctx.SpawnNamed(m.Props, m.Name)
	if err == nil {
		s.children[pid.Id] = &childInfo{pid: pid, handle: m.Child, tracker: supervision.NewTracker(m.Policy, nil, nil)}
	}
	m.Reply <- Spawned{PID: pid, Err: err}
}

// HandleFailure implements actor.SupervisorStrategy: a capsule actor panicked with an
// *lifecycle.Exit (or anything else, treated as a crash).
func (s *supervisorActor) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID,
	_ *actor.RestartStatistics, reason any, _ any) {
	info := s.children[child.Id]
	exit, ok := reason.(*lifecycle.Exit)
	if !ok {
		exit = &lifecycle.Exit{Kind: supervision.Crashed, Reason: fmt.Sprint(reason)}
	}
	if info == nil {
		sup.StopChildren(child)
		return
	}
	id := info.handle.ID()
	// The instance has released its subscriptions before it reported its end, so the
	// event's totals include what it left queued (as discarded).
	info.handle.Exited(exit, info.tracker.Total())
	d := info.tracker.Decide(exit.Kind)
	log := s.log.With(zap.String("capsule_id", id), zap.String("reason", exit.Reason))
	switch d.Action {
	case supervision.RestartAfter:
		targets := []*actor.PID{child}
		if s.group != "" {
			targets = sup.Children()
		}
		info.handle.Record(lifecycle.Change{Kind: lifecycle.Restart})
		log.Info("restarting capsule", zap.Duration("backoff", d.Backoff), zap.Int("restarts_in_window", d.Restarts),
			zap.String("group", s.group), zap.Int("capsules", len(targets)))
		s.after(d.Backoff, func() { sup.RestartChildren(targets...) })
	case supervision.End:
		info.handle.Record(lifecycle.Change{Kind: lifecycle.End})
		log.Info("capsule ended", zap.Stringer("restart_policy", info.tracker.Policy().Restart))
		sup.StopChildren(child)
	case supervision.Fail:
		why := fmt.Sprintf("restart intensity exceeded (%d restarts within %v); last exit: %s",
			d.Restarts, info.tracker.Policy().Within, exit.Reason)
		s.fail(info, why)
		sup.StopChildren(child)
	case supervision.FailGroup:
		why := fmt.Sprintf("group %s failed: capsule %s exceeded its restart intensity (%d restarts within %v); last exit: %s",
			s.group, id, d.Restarts, info.tracker.Policy().Within, exit.Reason)
		for _, c := range s.children {
			s.fail(c, why)
		}
		sup.StopChildren(sup.Children()...)
	}
}

// fail marks a capsule failed and publishes the event.
func (s *supervisorActor) fail(info *childInfo, why string) {
	info.handle.Record(lifecycle.Change{Kind: lifecycle.Fail, Reason: why})
	s.log.Warn("capsule failed", zap.String("capsule_id", info.handle.ID()), zap.String("reason", why))
	info.handle.Failed(why)
}

// timerFired tells the supervisor that a backoff timer has run.
type timerFired struct{ id uint64 }

// after runs f now, or after d on a timer that is cancelled if the supervisor stops.
func (s *supervisorActor) after(d time.Duration, f func()) {
	if d <= 0 {
		f()
		return
	}
	s.nextTimer++
	id, self, root := s.nextTimer, s.self, s.root
	s.timers[id] = time.AfterFunc(d, func() {
		f()
		root.Send(self, &timerFired{id: id})
	})
}
