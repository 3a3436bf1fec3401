package actors

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/hostfuncs"
)

// A crash-looping flooder does not get a fresh rate budget with each restart: the budget
// belongs to the capsule. flood.wasm publishes 400 messages per instance and traps; with a
// budget of 1 000 messages per (never-ending) window, 4 instances get exactly 1 000 through,
// where per-instance budgets would let all 1 600 pass. Every refusal is counted in Status.
func TestRateBudgetSurvivesRestarts(t *testing.T) {
	r := newRuntime(t)
	sub, err := r.Bus().Subscribe(context.Background(), "flood", bus.SubscribeOptions{Mailbox: bus.MailboxLimits{PerPrincipal: 1 << 12}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close(context.Background()) })
	// 1 message per second over a 1 000 s window: 1 000 messages, and the window cannot end
	// during the test, so the count is exact.
	limits := Limits{IPC: hostfuncs.Limits{ThroughputMessagesPerSec: 1, RateWindow: 1000 * time.Second}}
	c := startCapsule(t, r, CapsuleSpec{ID: "flooder", Module: compile(t, r, "testdata/wat/flood.wasm"),
		Grants: grants([]string{"flood"}, nil), Limits: limits, Policy: policy(3)})
	waitDone(t, c)
	st := c.Status()
	if st.State != StateFailed || st.Instances != 4 {
		t.Fatalf("status %+v, want failed after 4 instances", st)
	}
	if st.Published != 1000 {
		t.Fatalf("%d publishes accepted over 4 instances of 400, want 1000 (one budget for the capsule)", st.Published)
	}
	if got := sub.Mailbox().Stats().Offered; got != 1000 {
		t.Fatalf("subscriber was offered %d messages, want 1000", got)
	}
	want := []hostfuncs.Refusal{{Fn: "astrid:ipc/publish", Code: abi.RateLimited, Count: 600}}
	if len(st.Refused) != 1 || st.Refused[0] != want[0] {
		t.Fatalf("refusals %+v, want %+v", st.Refused, want)
	}
}

// The engine accepts imports from astrid:ipc@1.1.0 — publish-batch and the 1.0.0 functions
// under the new module name — next to 1.0.0 ones (TestCompileRejectsBadModules checks that
// publish-batch is refused from 1.0.0).
func TestCompileAcceptsIPC11(t *testing.T) {
	r := newRuntime(t)
	m := compile(t, r, "testdata/wat/batch.wasm")
	want := []string{"astrid:ipc@1.1.0.publish-batch", "astrid:ipc@1.1.0.subscribe", "astrid:ipc@1.1.0.subscription-poll"}
	if got := m.Imports(); !slices.Equal(got, want) {
		t.Fatalf("imports %v, want %v", got, want)
	}
	compile(t, r, "testdata/wat/hostcalls.wasm") // 1.0.0 only
}
