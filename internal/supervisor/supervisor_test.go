package supervisor

import (
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/astrid-actors/astrid-actors/internal/actorsys"
	"github.com/astrid-actors/astrid-actors/internal/leakcheck"
	"github.com/astrid-actors/astrid-actors/internal/lifecycle"
	"github.com/astrid-actors/astrid-actors/supervision"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakcheck.Options()...)
}

// child records what the supervisor reports about one supervised actor, in order.
type child struct {
	id string

	mu     sync.Mutex
	report []string
	more   chan struct{}
}

func newChild(id string) *child { return &child{id: id, more: make(chan struct{}, 64)} }

func (c *child) add(s string) {
	c.mu.Lock()
	c.report = append(c.report, s)
	c.mu.Unlock()
	c.more <- struct{}{}
}

func (c *child) ID() string { return c.id }
func (c *child) Record(l lifecycle.Change) uuid.UUID {
	c.add(map[lifecycle.Kind]string{lifecycle.Restart: "restart", lifecycle.End: "end", lifecycle.Fail: "fail"}[l.Kind])
	return uuid.Nil
}
func (c *child) Exited(e *lifecycle.Exit, restarts int) { c.add("exited:" + e.Reason) }
func (c *child) Failed(reason string)                   { c.add("failed") }

// waitReports waits until c has n reports and returns them.
func (c *child) waitReports(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		got := append([]string(nil), c.report...)
		c.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-c.more:
		case <-deadline:
			t.Fatalf("reports %v, want %d", got, n)
		}
	}
}

// crasher is a supervised actor that counts its starts and panics with an Exit on "crash".
type crasher struct{ started chan<- struct{} }

func (a *crasher) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		a.started <- struct{}{}
	case string:
		panic(&lifecycle.Exit{CapsuleID: "c", Kind: supervision.Crashed, Reason: "boom"})
	}
}

// The supervisor applies the child's policy to a real protoactor-go failure: a crash within
// the intensity is reported and restarted (the actor starts again), the one past it fails the
// capsule and stops the actor; every decision is reported to the child's handle in order.
func TestSupervisorRestartsThenFails(t *testing.T) {
	system := actorsys.New(zap.NewNop())
	defer system.Shutdown()
	root, err := system.Root.SpawnNamed(Props(zap.NewNop(), ""), "capsules")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = system.Root.StopFuture(root).Wait() }()
	started := make(chan struct{}, 4)
	c := newChild("c")
	reply := make(chan Spawned, 1)
	policy := supervision.Policy{Restart: supervision.Permanent, MaxRestarts: 1, Within: time.Minute}
	system.Root.Send(root, &Spawn{Props: actor.PropsFromProducer(func() actor.Actor { return &crasher{started: started} }),
		Name: "c", Child: c, Policy: policy, Reply: reply})
	res := <-reply
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	<-started
	system.Root.Send(res.PID, "crash")
	<-started // restarted
	if got := c.waitReports(t, 2); got[0] != "exited:boom" || got[1] != "restart" {
		t.Fatalf("reports %v, want exited, restart", got)
	}
	system.Root.Send(res.PID, "crash")
	got := c.waitReports(t, 5)
	if got[2] != "exited:boom" || got[3] != "fail" || got[4] != "failed" {
		t.Fatalf("reports %v, want exited, restart, exited, fail, failed", got)
	}
	if err := system.Root.StopFuture(res.PID).Wait(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
		t.Fatal("the failed capsule's actor was started again")
	default:
	}
}
