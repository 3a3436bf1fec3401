package bus

import (
	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
)

// routerCmd is a request to the router actor; the reply goes to a buffered channel so the
// requester never blocks the actor.
type routerCmd interface{ replyChan() chan error }

type subscribeCmd struct {
	sub   *Subscription
	reply chan error
}

type unsubscribeCmd struct {
	sub   *Subscription
	reply chan error
}

func (c *subscribeCmd) replyChan() chan error   { return c.reply }
func (c *unsubscribeCmd) replyChan() chan error { return c.reply }

// routerState is the subscription table. It lives outside the actor value so it would survive
// a restart of the actor; only the router actor's goroutine touches it.
type routerState struct {
	bus  *Bus
	subs map[uint64]*Subscription
}

// routerActor is the single writer of the subscription table and of the bus's index.
type routerActor struct {
	state *routerState
}

// Receive implements actor.Actor.
func (r *routerActor) Receive(ctx actor.Context) {
	st := r.state
	switch m := ctx.Message().(type) {
	case *subscribeCmd:
		err := st.bus.index.Add(m.sub.pattern, m.sub)
		if err == nil {
			st.subs[m.sub.id] = m.sub
			st.bus.generation.Add(1)
		}
		m.reply <- err
	case *unsubscribeCmd:
		if _, ok := st.subs[m.sub.id]; ok {
			st.bus.index.Remove(m.sub.pattern, m.sub)
			delete(st.subs, m.sub.id)
			st.bus.generation.Add(1)
		}
		m.reply <- nil
	case *actor.Stopped:
		for id, s := range st.subs {
			st.bus.index.Remove(s.pattern, s)
			s.mailbox.Close()
			delete(st.subs, id)
			st.bus.generation.Add(1)
		}
		st.bus.log.Debug("router stopped")
		close(st.bus.done)
	case *actor.Started:
		st.bus.log.Debug("router started", zap.String("pid", ctx.Self().Id))
	}
}
