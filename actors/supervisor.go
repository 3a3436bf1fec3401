package actors

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/astrid-actors/astrid-actors/supervision"
)

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
	rt        *Runtime
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
	handle  *Capsule
	tracker *supervision.Tracker
}

func (r *Runtime) supervisorProps(group string) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &supervisorActor{rt: r, group: group, children: map[string]*childInfo{},
			groups: map[string]*actor.PID{}, timers: map[uint64]*time.Timer{}}
	})
}

var _ actor.SupervisorStrategy = (*supervisorActor)(nil)

// Receive implements actor.Actor.
func (s *supervisorActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.self, s.root = ctx.Self(), ctx.ActorSystem().Root
	case *spawnChild:
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

func (s *supervisorActor) spawn(ctx actor.Context, m *spawnChild) {
	if g := m.policy.Group; s.group == "" && g != "" {
		pid := s.groups[g]
		if pid == nil {
			var err error
			pid, err = ctx.SpawnNamed(s.rt.supervisorProps(g), "group-"+g)
			if err != nil {
				m.reply <- spawnResult{err: fmt.Errorf("spawn group %s: %w", g, err)}
				return
			}
			s.groups[g] = pid
		}
		ctx.Send(pid, m)
		return
	}
	pid, err := ctx.SpawnNamed(m.props, m.name)
	if err == nil {
		s.children[pid.Id] = &childInfo{pid: pid, handle: m.handle, tracker: supervision.NewTracker(m.policy, nil, nil)}
	}
	m.reply <- spawnResult{pid: pid, err: err}
}

// HandleFailure implements actor.SupervisorStrategy: a capsule actor panicked with an
// *exitError (or anything else, treated as a crash).
func (s *supervisorActor) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID,
	_ *actor.RestartStatistics, reason any, _ any) {
	info := s.children[child.Id]
	exit, ok := reason.(*exitError)
	if !ok {
		exit = &exitError{Kind: supervision.Crashed, Reason: fmt.Sprint(reason)}
	}
	if info == nil {
		sup.StopChildren(child)
		return
	}
	id := info.handle.ID()
	topic := TopicExited
	if exit.Kind == supervision.Crashed {
		topic = TopicCrashed
	}
	// The instance has released its subscriptions before it reported its end, so the totals
	// include what it left queued (as discarded).
	discarded, totals := exit.Discarded, info.handle.Status().Traffic
	s.rt.publishEvent(topic, event{CapsuleID: id, InstanceID: exit.InstanceID.String(),
		Reason: exit.Reason, RestartCount: info.tracker.Total(), Discarded: &discarded, Totals: &totals})
	d := info.tracker.Decide(exit.Kind)
	log := s.rt.log.With(zap.String("capsule_id", id), zap.String("reason", exit.Reason))
	switch d.Action {
	case supervision.RestartAfter:
		targets := []*actor.PID{child}
		if s.group != "" {
			targets = sup.Children()
		}
		info.handle.record(lifecycle{kind: lifeRestart})
		log.Info("restarting capsule", zap.Duration("backoff", d.Backoff), zap.Int("restarts_in_window", d.Restarts),
			zap.String("group", s.group), zap.Int("capsules", len(targets)))
		s.after(d.Backoff, func() { sup.RestartChildren(targets...) })
	case supervision.End:
		info.handle.record(lifecycle{kind: lifeEnd})
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
	info.handle.record(lifecycle{kind: lifeFail, reason: why})
	st := info.handle.Status()
	s.rt.log.Warn("capsule failed", zap.String("capsule_id", info.handle.ID()), zap.String("reason", why))
	s.rt.publishEvent(TopicFailed, event{CapsuleID: info.handle.ID(), InstanceID: st.InstanceID.String(),
		Reason: why, RestartCount: st.Restarts})
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
