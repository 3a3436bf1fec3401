package actors

import (
	"context"
	"testing"
	"time"

	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/hostfuncs"
	"github.com/astrid-actors/astrid-actors/supervision"
)

// Real capsules that all publish as verified(default): three flooders publish {} on fair.in
// as fast as the host accepts, a prober sends 200 probes on the same topic, and an
// echo subscribed to fair.in answers every probe on fair.out. The echo's mailbox keeps one
// fair queue per (principal, publishing instance), so the flood evicts only the flooders' own messages
// and the echo answers (at least 99 % of) the probes.
func TestFairnessBetweenPublishingCapsules(t *testing.T) {
	const probes = 200
	r := newRuntime(t)
	out := hostSubscribe(t, r, "fair.out")
	done := hostSubscribe(t, r, "fair.done")
	// A per-flow cap above the number of probes: the endless flood overflows its flows however
	// fast the machine is, while the prober's flow (one probe every 5 ms) never can, even if the
	// echo is starved for a while on a loaded machine (with a cap of 16, a stall of 80 ms lost
	// probes under load). Whatever the echo misses is then the flood's doing.
	echo := startCapsule(t, r, CapsuleSpec{ID: "fairecho", Module: compile(t, r, "testdata/wat/fairecho.wasm"),
		Grants: grants([]string{"fair.out"}, []string{"fair.in"}),
		Limits: Limits{IPC: hostfuncs.Limits{Mailbox: bus.MailboxLimits{PerPrincipal: probes + 56}}}})
	waitReady(t, echo)
	flood := compile(t, r, "testdata/wat/flooder.wasm")
	var flooders []*Capsule
	for _, id := range []string{"flooder-1", "flooder-2", "flooder-3"} {
		f := startCapsule(t, r, CapsuleSpec{ID: id, Module: flood, Grants: grants([]string{"fair.in"}, nil), Watchdog: &supervision.Watchdog{},
			Limits: Limits{IPC: hostfuncs.Limits{ThroughputMessagesPerSec: 1 << 30}}}) // flood as fast as the host accepts
		waitReady(t, f)
		flooders = append(flooders, f)
	}
	checkFor(t, 20*time.Second, "the flood to overflow the echo's mailbox", func() bool { return echo.Status().Dropped > 0 })
	prober := startCapsule(t, r, CapsuleSpec{ID: "prober", Module: compile(t, r, "testdata/wat/prober.wasm"),
		Grants: grants([]string{"fair.in", "fair.done"}, nil)})
	receive(t, done, 1, 30*time.Second)

	answered := 0
	deadline := time.Now().Add(30 * time.Second) // generous: the loop ends at the 200th answer
	for answered < probes && time.Now().Before(deadline) {
		if _, err := out.Mailbox().Wait(context.Background(), time.Until(deadline)); err != nil {
			t.Fatal(err)
		}
		b := out.Mailbox().Drain(nil, 1<<20, func(*bus.Message) bool { return true })
		for _, m := range b.Messages {
			if string(m.Payload) != `{"probe":1}` {
				t.Fatalf("echo answered %s", m.Payload)
			}
			answered++
		}
	}
	ec := echo.Status()
	var flooded uint64
	for _, f := range flooders {
		st := f.Status()
		if st.State != StateReady {
			t.Fatalf("flooder %+v: the flood did not last", st)
		}
		flooded += st.Published
	}
	t.Logf("answered %d of %d probes; the flooders published %d, the echo was delivered %d and dropped %d",
		answered, probes, flooded, ec.Delivered, ec.Dropped)
	if answered*100 < probes*99 {
		t.Fatalf("the echo answered %d of %d probes under the flood", answered, probes)
	}
	if ec.Dropped == 0 || prober.Status().Published != probes+1 {
		t.Fatalf("echo %+v, prober %+v: no flood, or probes missing", ec, prober.Status())
	}
}
