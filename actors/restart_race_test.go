package actors

import (
	"context"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// TestRestartQueuedBehindStopStartsNothing: a supervisor's Restart can be queued in a capsule
// actor's mailbox just before a Stop is handled (a crash's restart racing Capsule.Stop or
// Runtime.Close). protoactor-go then handles the Restart after the Stop: it re-creates the
// stopped actor and sends it Started. A new instance started then would run for ever (nothing
// stops it: goleak saw its worker goroutine, about once in 20 runs of
// TestTrappingInterceptorIsRestarted) and would make the stopped capsule look ready. The test
// delivers that late Restart deterministically, through the actor's process as the supervisor
// resolved it before the stop.
func TestRestartQueuedBehindStopStartsNothing(t *testing.T) {
	r, logs, _ := newObservedRuntime(t)
	c := interceptor(t, r, "a", "ev.*", "p", 10)
	c.mu.Lock()
	pid := c.pid
	c.mu.Unlock()
	proc, ok := r.system.ProcessRegistry.Get(pid)
	if !ok {
		t.Fatal("the capsule actor is not registered")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	proc.SendSystemMessage(pid, &actor.Restart{})
	checkFor(t, 10*time.Second, "the late restart to be handled", func() bool {
		return logs.FilterMessage("restart of a stopped capsule ignored").Len() > 0 || c.Status().Instances > 1
	})
	if st := c.Status(); st.Instances != 1 || st.State != StateStopped {
		t.Fatalf("after a late restart: %d instances, state %s; want 1, stopped", st.Instances, st.State)
	}
	// A second Stop queued as well (an Unload racing Runtime.Close) reaches the re-created
	// actor: its Stopped must not close the capsule's done channel again (a panic that
	// protoactor-go would swallow).
	proc.SendSystemMessage(pid, &actor.Stop{})
	checkFor(t, 10*time.Second, "the second stop to be handled", func() bool {
		return logs.FilterMessage("stop of a stopped capsule ignored").Len() > 0
	})
	if st := c.Status(); st.Instances != 1 || st.State != StateStopped {
		t.Fatalf("after a second stop: %d instances, state %s; want 1, stopped", st.Instances, st.State)
	}
}
