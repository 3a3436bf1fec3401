package dispatch

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/internal/actorsys"
	"github.com/astrid-actors/astrid-actors/internal/leakcheck"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakcheck.Options()...)
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Turns come in ticket order; a ticket released before its turn is skipped.
func TestFIFOLockTurnsInTicketOrder(t *testing.T) {
	l := newFIFOLock()
	t0, t1, t2 := l.take(), l.take(), l.take()
	if !isClosed(l.turn(t0)) {
		t.Fatal("the first ticket does not have its turn")
	}
	turn2 := l.turn(t2)
	l.release(t1) // ends early: skipped when its turn comes
	if isClosed(turn2) {
		t.Fatal("ticket 2 has its turn before ticket 0 is released")
	}
	l.release(t0)
	if !isClosed(turn2) {
		t.Fatal("ticket 2 does not have its turn after 0 and 1 are released")
	}
	if l.idle() {
		t.Fatal("idle with ticket 2 in use")
	}
	l.release(t2)
	if !l.idle() {
		t.Fatal("not idle after every ticket is released")
	}
}

// serve serves port on a goroutine of its own with handle until the test ends.
func serve(t *testing.T, port *Port, handle func(*Call) Result) {
	calls, done := make(chan *Call), make(chan struct{})
	port.Serve(calls, done)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case c := <-calls:
				c.Reply(handle(c))
			case <-done:
				return
			}
		}
	}()
	t.Cleanup(func() {
		port.Serve(nil, nil)
		close(done)
		<-finished
	})
}

// A chain on a real bus: bindings run by ascending priority, a continue with data replaces the
// payload for the next priority, a capsule without a running instance fails its call (counted)
// and the chain goes on, final ends it; unregistered bindings are not called.
func TestDispatcherRunsTheChain(t *testing.T) {
	system := actorsys.New(zap.NewNop())
	defer system.Shutdown()
	b, err := bus.New(system, bus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	d := New(b, zap.NewNop())

	var replacer, finisher, idle, after Port
	got := make(chan *Call, 1)
	serve(t, &replacer, func(c *Call) Result {
		return Result{Action: abi.HookContinue, Data: []byte(`{"replaced":true}`)}
	})
	serve(t, &finisher, func(c *Call) Result {
		got <- c
		return Result{Action: abi.HookFinal}
	})
	serve(t, &after, func(c *Call) Result {
		t.Errorf("a binding after final was called: %s", c.Action)
		return Result{}
	})
	for _, r := range []struct {
		id   string
		port *Port
		b    abi.Binding
	}{
		{"idle", &idle, abi.Binding{Topic: "app.in", Action: "i", Priority: 0}},
		{"replacer", &replacer, abi.Binding{Topic: "app.in", Action: "r", Priority: 1}},
		{"finisher", &finisher, abi.Binding{Topic: "app.*", Action: "f", Priority: 2}},
		{"after", &after, abi.Binding{Topic: "app.in", Action: "a", Priority: 3}},
	} {
		if err := d.Register(r.id, r.port, []abi.Binding{r.b}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Register("bad", &Port{}, []abi.Binding{{Topic: "a..b", Action: "x"}}); err == nil {
		t.Error("a binding with an invalid pattern was registered")
	}
	principal := bus.Principal{Kind: abi.PrincipalVerified, ID: "alice"}
	if _, err := b.Publish("app.in", []byte(`{"n":1}`), uuid.Nil, principal); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-got:
		if c.Action != "f" || string(c.Payload) != `{"replaced":true}` || c.Caller.Topic != "app.in" ||
			string(c.Caller.Payload) != `{"replaced":true}` || c.Caller.Principal != principal {
			t.Errorf("final handler called with action %q, payload %s, caller %s %s %+v", c.Action, c.Payload,
				c.Caller.Topic, c.Caller.Payload, c.Caller.Principal)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the final handler was not called")
	}
	d.Unregister(&finisher)
	d.Unregister(&replacer)
	d.Unregister(&idle)
	d.Unregister(&after)
	if _, err := b.Publish("app.in", []byte(`{"n":2}`), uuid.Nil, principal); err != nil {
		t.Fatal(err)
	}
	d.Close() // waits for the chains in flight
	if s := d.Stats(); s != (Stats{Dispatched: 1, HandlerErrors: 1}) {
		t.Errorf("stats %+v, want one chain and one failed call", s)
	}
	if r := (&Port{}).invoke(nil, &Call{}); !errors.Is(r.Err, errNoInstance) {
		t.Errorf("a call to a port nobody serves: %v, want errNoInstance", r.Err)
	}
}
