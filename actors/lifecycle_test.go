package actors_test

// The capsule state machine, observed from outside through capsuletest: every transition of
// Status.State is applied by Capsule.record, whichever actor reported it.

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/astrid-actors/astrid-actors/actors"
	"github.com/astrid-actors/astrid-actors/capsuletest"
	"github.com/astrid-actors/astrid-actors/hostfuncs"
	"github.com/astrid-actors/astrid-actors/supervision"
)

func TestStatusLifecycle(t *testing.T) {
	crashy := func(h *capsuletest.Harness, id string, p supervision.Policy) *actors.Capsule {
		return h.Start("../testdata/wat/crashy.wat", actors.CapsuleSpec{ID: id, Policy: &p,
			Config: map[string]string{"topic": "crash." + id}, Grants: hostfuncs.Grants{Subscribe: []string{"crash.*"}}})
	}
	t.Run("crash, restart, ready again, then fail", func(t *testing.T) {
		h := capsuletest.New(t, capsuletest.Options{})
		c := crashy(h, "a", supervision.Policy{Restart: supervision.Permanent, MaxRestarts: 1, Within: time.Minute})
		if st := c.Status(); st.State != actors.StateReady || st.Instances != 1 || st.Restarts != 0 {
			t.Fatalf("after start: %+v", st)
		}
		first := c.Status().InstanceID

		h.Publish("crash.a", `1`)
		h.ExpectEvent(actors.TopicCrashed, "a")
		h.ExpectEvent(actors.TopicRestarted, "a")
		h.WaitState(c, actors.StateReady)
		st := c.Status()
		if st.Instances != 2 || st.Restarts != 1 || st.InstanceID == first || !strings.Contains(st.LastError, "unreachable") {
			t.Errorf("after one restart: %+v", st)
		}

		h.Publish("crash.a", `2`)
		e := h.ExpectEvent(actors.TopicFailed, "a")
		h.WaitState(c, actors.StateFailed)
		if st := c.Status(); st.LastError != e.Reason || !strings.Contains(st.LastError, "restart intensity exceeded") {
			t.Errorf("failed: %+v, event reason %q", st, e.Reason)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if st := c.Status(); st.State != actors.StateFailed {
			t.Errorf("a stop keeps failed, got %s", st.State)
		}
	})
	t.Run("temporary: the crash ends it, a stop keeps exited", func(t *testing.T) {
		h := capsuletest.New(t, capsuletest.Options{})
		c := crashy(h, "b", supervision.Policy{Restart: supervision.Temporary, MaxRestarts: 5, Within: time.Minute})
		h.Publish("crash.b", `1`)
		h.ExpectEvent(actors.TopicCrashed, "b")
		h.WaitState(c, actors.StateExited)
		<-c.Done()
		if st := c.Status(); st.State != actors.StateExited || st.Restarts != 0 {
			t.Errorf("%+v", st)
		}
	})
	t.Run("a stop during the backoff is stopped", func(t *testing.T) {
		h := capsuletest.New(t, capsuletest.Options{})
		c := crashy(h, "c", supervision.Policy{Restart: supervision.Permanent, MaxRestarts: 5, Within: time.Minute,
			BackoffInitial: time.Hour, BackoffMax: time.Hour})
		h.Publish("crash.c", `1`)
		h.ExpectEvent(actors.TopicCrashed, "c")
		h.WaitState(c, actors.StateRestarting)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if st := c.Status(); st.State != actors.StateStopped || st.Restarts != 1 || st.Instances != 1 {
			t.Errorf("%+v", st)
		}
	})
}
