package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/hostfuncs"
	"github.com/astrid-actors/astrid-actors/supervision"
)

func waitDone(t testing.TB, c *Capsule) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(20 * time.Second):
		t.Fatalf("capsule %s did not end; status %+v", c.ID(), c.Status())
	}
}

// policy returns a permanent policy with no backoff and the given intensity.
func policy(maxRestarts int) *supervision.Policy {
	return &supervision.Policy{Restart: supervision.Permanent, MaxRestarts: maxRestarts, Within: time.Minute}
}

type lifecycleEvent struct {
	topic string
	at    time.Time
	event
}

// events collects the runtime's lifecycle events.
func events(t testing.TB, r *Runtime) func() []lifecycleEvent {
	sub := hostSubscribe(t, r, "astrid.v1.*")
	var all []lifecycleEvent
	return func() []lifecycleEvent {
		for {
			b := sub.Mailbox().Drain(nil, 1<<20, func(*bus.Message) bool { return true })
			if len(b.Messages) == 0 {
				return all
			}
			for _, m := range b.Messages {
				var e event
				if err := json.Unmarshal(m.Payload, &e); err != nil {
					t.Fatalf("event %s: %v", m.Topic, err)
				}
				all = append(all, lifecycleEvent{topic: m.Topic, at: m.Time, event: e})
			}
		}
	}
}

func count(evs []lifecycleEvent, topic, capsule string) int {
	n := 0
	for _, e := range evs {
		if e.topic == topic && e.CapsuleID == capsule {
			n++
		}
	}
	return n
}

func TestCrashLoopStopsAfterExactlyMaxRestarts(t *testing.T) {
	r := newRuntime(t)
	evs := events(t, r)
	c := startCapsule(t, r, CapsuleSpec{ID: "loop", Module: compile(t, r, "testdata/wat/trap.wasm"), Policy: policy(3)})
	waitDone(t, c)
	st := c.Status()
	if st.State != StateFailed || st.Restarts != 3 || st.Instances != 4 {
		t.Fatalf("status %+v, want failed after 3 restarts (4 instances)", st)
	}
	if !strings.Contains(st.LastError, "wasm error: unreachable") || !strings.Contains(st.LastError, "intensity") {
		t.Fatalf("last error %q", st.LastError)
	}
	all := evs()
	if got := [3]int{count(all, TopicCrashed, "loop"), count(all, TopicRestarted, "loop"), count(all, TopicFailed, "loop")}; got != [3]int{4, 3, 1} {
		t.Fatalf("crashed/restarted/failed events = %v, want [4 3 1]", got)
	}
}

func TestCrashesSlowerThanTheWindowKeepRestarting(t *testing.T) {
	r := newRuntime(t)
	p := &supervision.Policy{Restart: supervision.Permanent, MaxRestarts: 1, Within: 20 * time.Millisecond,
		BackoffInitial: 40 * time.Millisecond, BackoffMax: 40 * time.Millisecond}
	c := startCapsule(t, r, CapsuleSpec{ID: "slow", Module: compile(t, r, "testdata/wat/trap.wasm"), Policy: p})
	checkFor(t, 20*time.Second, "5 instances", func() bool { return c.Status().Instances >= 5 })
	if st := c.Status(); st.State == StateFailed {
		t.Fatalf("failed although one crash per window is allowed: %+v", st)
	}
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestBackoffGrowsAndCaps(t *testing.T) {
	r := newRuntime(t)
	evs := events(t, r)
	// Ten restarts: uncapped, the tenth would wait 20 ms × 2^9 = 10.24 s, so the loose upper
	// bound below (backoff + 5 s, for a loaded machine) still proves the cap.
	p := &supervision.Policy{Restart: supervision.Permanent, MaxRestarts: 10, Within: time.Minute,
		BackoffInitial: 20 * time.Millisecond, BackoffMax: 80 * time.Millisecond}
	c := startCapsule(t, r, CapsuleSpec{ID: "backoff", Module: compile(t, r, "testdata/wat/trap.wasm"), Policy: p})
	waitDone(t, c)
	var crashed, restarted []time.Time
	for _, e := range evs() {
		switch e.topic {
		case TopicCrashed:
			crashed = append(crashed, e.at)
		case TopicRestarted:
			restarted = append(restarted, e.at)
		}
	}
	if len(restarted) != 10 || len(crashed) != 11 {
		t.Fatalf("%d crashes, %d restarts", len(crashed), len(restarted))
	}
	want := []time.Duration{20, 40, 80, 80, 80, 80, 80, 80, 80, 80}
	for i, w := range want {
		gap := restarted[i].Sub(crashed[i])
		if gap < w*time.Millisecond || gap > w*time.Millisecond+5*time.Second {
			t.Errorf("restart %d came %v after the crash, want about %v", i+1, gap, w*time.Millisecond)
		}
	}
}

func TestFailedStartIsRetriedPerPolicy(t *testing.T) {
	r := newRuntime(t)
	c := startCapsule(t, r, CapsuleSpec{ID: "startfail", Module: compile(t, r, "testdata/wat/startfail.wasm"), Policy: policy(2)})
	waitDone(t, c)
	st := c.Status()
	if st.State != StateFailed || st.Instances != 3 || !strings.Contains(st.LastError, "_initialize") {
		t.Fatalf("status %+v, want failed after 3 attempts to start", st)
	}
}

func TestPermanentCapsuleIsRestartedAfterNormalExit(t *testing.T) {
	r := newRuntime(t)
	c := startCapsule(t, r, CapsuleSpec{ID: "exit", Module: compile(t, r, "testdata/wat/exit.wasm"), Policy: policy(2)})
	waitDone(t, c)
	if st := c.Status(); st.State != StateFailed || st.Instances != 3 {
		t.Fatalf("status %+v", st)
	}
	temp := &supervision.Policy{Restart: supervision.Temporary, MaxRestarts: 5, Within: time.Minute}
	c = startCapsule(t, r, CapsuleSpec{ID: "temp", Module: compile(t, r, "testdata/wat/trap.wasm"), Policy: temp})
	waitDone(t, c)
	if st := c.Status(); st.State != StateExited || st.Instances != 1 {
		t.Fatalf("temporary capsule status %+v", st)
	}
}

func TestCrashSources(t *testing.T) {
	tests := []struct {
		wasm   string
		limits Limits
		want   string
	}{
		{"trap", Limits{}, "wasm error: unreachable"},
		{"oob", Limits{}, "out of bounds memory access"},
		{"stack", Limits{}, "stack overflow"},
		{"procexit", Limits{}, "exit code 3"},
		{"grow", Limits{MemoryPages: 16}, "wasm error: unreachable"}, // memory.grow refused past the limit
	}
	r := newRuntime(t)
	for _, tt := range tests {
		t.Run(tt.wasm, func(t *testing.T) {
			c := startCapsule(t, r, CapsuleSpec{ID: tt.wasm, Module: compile(t, r, "testdata/wat/"+tt.wasm+".wasm"),
				Policy: policy(0), Limits: tt.limits})
			waitDone(t, c)
			if st := c.Status(); st.State != StateFailed || !strings.Contains(st.LastError, tt.want) {
				t.Fatalf("status %+v, want failed with %q", st, tt.want)
			}
		})
	}
	// The same module within its limit grows and returns normally.
	transient := policy(0)
	transient.Restart = supervision.Transient
	c := startCapsule(t, r, CapsuleSpec{ID: "grow-ok", Module: compile(t, r, "testdata/wat/grow.wasm"), Policy: transient,
		Limits: Limits{MemoryPages: 80}})
	waitDone(t, c)
	if st := c.Status(); st.State != StateExited {
		t.Fatalf("grow within the limit: %+v", st)
	}
}

func TestWatchdogStopsRunawayRunLoop(t *testing.T) {
	r := newRuntime(t)
	evs := events(t, r)
	wd := &supervision.Watchdog{Window: 20 * time.Millisecond, Windows: 3}
	spin := startCapsule(t, r, CapsuleSpec{ID: "spin", Module: compile(t, r, "testdata/wat/spin.wasm"), Policy: policy(0), Watchdog: wd})
	sleeper := startCapsule(t, r, CapsuleSpec{ID: "sleeper", Module: compile(t, r, "testdata/wat/sleeper.wasm"), Policy: policy(0), Watchdog: wd})
	waitDone(t, spin)
	if st := spin.Status(); st.State != StateFailed || !strings.Contains(st.LastError, "watchdog") {
		t.Fatalf("spin status %+v", st)
	}
	if n := count(evs(), TopicHealthFailed, "spin"); n != 1 {
		t.Fatalf("%d health.failed events for spin", n)
	}
	// Sleeping is yielding: the sleeper outlives many watchdog limits.
	time.Sleep(300 * time.Millisecond)
	if st := sleeper.Status(); st.State != StateReady {
		t.Fatalf("sleeper status %+v", st)
	}
}

func TestAllForOneRestartsTheGroup(t *testing.T) {
	r := newRuntime(t)
	p := policy(5)
	p.Group = "billing"
	echo := startCapsule(t, r, CapsuleSpec{ID: "echo", Module: compile(t, r, "testdata/wat/echo.wasm"), Policy: p,
		Grants: grants([]string{"echo.out"}, []string{"echo.in"})})
	crashy := startCapsule(t, r, CapsuleSpec{ID: "crashy", Module: compile(t, r, "testdata/wat/crashy.wasm"), Policy: p,
		Grants: grants(nil, []string{"crash.*"})})
	lone := startCapsule(t, r, CapsuleSpec{ID: "lone", Module: compile(t, r, "testdata/wat/echo.wasm"), Policy: policy(5),
		Grants: grants([]string{"echo.out"}, []string{"echo.in"})})
	for _, c := range []*Capsule{echo, crashy, lone} {
		waitReady(t, c)
	}
	before := [3]uuid.UUID{echo.Status().InstanceID, crashy.Status().InstanceID, lone.Status().InstanceID}
	if _, err := r.Bus().Publish("crash.now", []byte(`1`), uuid.Nil, bus.System()); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, "both group members restarted", func() bool {
		return echo.Status().Instances == 2 && crashy.Status().Instances == 2
	})
	waitReady(t, echo)
	waitReady(t, crashy)
	if echo.Status().InstanceID == before[0] || crashy.Status().InstanceID == before[1] {
		t.Fatal("group members kept their instances")
	}
	if lone.Status().InstanceID != before[2] {
		t.Fatal("a capsule outside the group was restarted")
	}
	// The restarted echo works.
	out := hostSubscribe(t, r, "echo.out")
	if _, err := r.Bus().Publish("echo.in", []byte(`"again"`), uuid.Nil, bus.System()); err != nil {
		t.Fatal(err)
	}
	receive(t, out, 2, 10*time.Second) // echo and lone
}

func TestEscalateFailsTheGroup(t *testing.T) {
	r := newRuntime(t)
	p := policy(0)
	p.Group, p.OnFailure = "g", supervision.Escalate
	echo := startCapsule(t, r, CapsuleSpec{ID: "echo", Module: compile(t, r, "testdata/wat/echo.wasm"), Policy: p,
		Grants: grants([]string{"echo.out"}, []string{"echo.in"})})
	crashy := startCapsule(t, r, CapsuleSpec{ID: "crashy", Module: compile(t, r, "testdata/wat/crashy.wasm"), Policy: p,
		Grants: grants(nil, []string{"crash.*"})})
	waitReady(t, echo)
	waitReady(t, crashy)
	if _, err := r.Bus().Publish("crash.now", []byte(`1`), uuid.Nil, bus.System()); err != nil {
		t.Fatal(err)
	}
	waitDone(t, echo)
	waitDone(t, crashy)
	for _, c := range []*Capsule{echo, crashy} {
		if st := c.Status(); st.State != StateFailed || !strings.Contains(st.LastError, "group g failed") {
			t.Fatalf("%s status %+v", c.ID(), st)
		}
	}
}

// TestHealthyCapsulesLoseNothingWhileOthersCrash runs 100 capsules that crash at random while
// echo capsules relay messages: every relayed message arrives, and the runtime stays up.
func TestHealthyCapsulesLoseNothingWhileOthersCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	r := newRuntime(t)
	roomy := Limits{IPC: hostfuncs.Limits{ThroughputBytesPerSec: 1 << 30, ThroughputMessagesPerSec: 1 << 30, Mailbox: bus.MailboxLimits{PerPrincipal: 1 << 20}}}
	crashMod := compile(t, r, "testdata/wat/crashy.wasm")
	const crashers, echoes, messages = 100, 4, 2000
	crashPolicy := &supervision.Policy{Restart: supervision.Permanent, MaxRestarts: 1 << 20, Within: time.Minute}
	var all []*Capsule
	for i := range crashers {
		all = append(all, startCapsule(t, r, CapsuleSpec{ID: fmt.Sprint("crasher-", i), Module: crashMod, Policy: crashPolicy,
			Grants: grants(nil, []string{"crash.*"}), Config: map[string]string{"topic": fmt.Sprint("crash.", i)}}))
	}
	echoMod := compile(t, r, "testdata/wat/echo.wasm")
	var healthy []*Capsule
	for i := range echoes {
		healthy = append(healthy, startCapsule(t, r, CapsuleSpec{ID: fmt.Sprint("echo-", i), Module: echoMod, Limits: roomy,
			Grants: grants([]string{"echo.out"}, []string{"echo.in"})}))
	}
	for _, c := range append(all, healthy...) {
		waitReady(t, c)
	}
	out, err := r.Bus().Subscribe(context.Background(), "echo.out", bus.SubscribeOptions{Mailbox: bus.MailboxLimits{Bytes: 64 << 20, PerPrincipal: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close(context.Background())

	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() { // crash capsules at random
		defer wg.Done()
		rng := rand.New(rand.NewPCG(1, 2))
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			_, _ = r.Bus().Publish(fmt.Sprint("crash.", rng.IntN(crashers)), []byte(`1`), uuid.Nil, bus.System())
		}
	}()
	for i := range messages {
		if _, err := r.Bus().Publish("echo.in", []byte(fmt.Sprint(i)), uuid.Nil, bus.Verified("user")); err != nil {
			t.Fatal(err)
		}
	}
	got := receive(t, out, messages*echoes, time.Minute)
	close(stop)
	wg.Wait()
	perEcho := map[uuid.UUID]int{}
	for _, m := range got {
		perEcho[m.Source]++
	}
	for src, n := range perEcho {
		if n != messages {
			t.Errorf("echo instance %v relayed %d of %d", src, n, messages)
		}
	}
	if st := out.Mailbox().Stats(); st.Dropped() != 0 {
		t.Errorf("%d relayed messages dropped", st.Dropped())
	}
	restarts := 0
	for _, c := range all {
		restarts += c.Status().Restarts
	}
	for _, c := range healthy {
		if st := c.Status(); st.Instances != 1 || st.State != StateReady {
			t.Errorf("healthy capsule %s: %+v", c.ID(), st)
		}
	}
	if restarts == 0 {
		t.Fatal("no capsule crashed: the test exercised nothing")
	}
	t.Logf("%d restarts among %d crashing capsules while %d messages were relayed", restarts, crashers, messages*echoes)
}
