package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/supervision"
)

// holdCapsule starts hold.wasm, which subscribes "hold.in" (read only on command) and
// "hold.ctl" (its commands), and waits until it is ready.
func holdCapsule(t *testing.T, r *Runtime, restart supervision.Restart) *Capsule {
	t.Helper()
	c := startCapsule(t, r, CapsuleSpec{ID: "hold", Module: compile(t, r, "testdata/wat/hold.wasm"),
		Grants: grants(nil, []string{"hold.*"}),
		Policy: &supervision.Policy{Restart: restart, MaxRestarts: 5, Within: time.Minute}})
	waitReady(t, c)
	return c
}

func publishN(t *testing.T, r *Runtime, topic string, n int, p bus.Principal) {
	t.Helper()
	for i := range n {
		if _, err := r.Publish(context.Background(), topic, []byte(fmt.Sprint(i%10)), p); err != nil {
			t.Fatal(err)
		}
	}
}

// checkTraffic fails unless the capsule's traffic balances and equals want.
func checkTraffic(t *testing.T, what string, got, want Traffic) {
	t.Helper()
	if got.Unaccounted() != 0 {
		t.Errorf("%s: traffic %+v does not balance: %d unaccounted", what, got, got.Unaccounted())
	}
	got.Published, want.Published = 0, 0
	if got != want {
		t.Errorf("%s: traffic\n got %+v\nwant %+v", what, got, want)
	}
}

// TestAccountingAcrossInstanceEnds is the scenario for every kind of end: a capsule
// subscribes "hold.in" and reads it once; 1 000 + 100 messages of one principal are published
// to it (256 fit per principal). Whatever ends the instance, every message is delivered,
// dropped, discarded or still queued, in the Status, the metrics' source, and the event.
func TestAccountingAcrossInstanceEnds(t *testing.T) {
	const ctl = 1 // each control message is matched and delivered
	tests := []struct {
		name    string
		restart supervision.Restart
		end     func(t *testing.T, r *Runtime, c *Capsule)
		event   string // lifecycle event expected for the end, if any
	}{
		{"trap", supervision.Permanent, func(t *testing.T, r *Runtime, c *Capsule) {
			if _, err := r.Publish(context.Background(), "hold.ctl", []byte(`1`), bus.System()); err != nil {
				t.Fatal(err)
			}
			checkFor(t, 10*time.Second, "the restart", func() bool { return c.Status().Instances == 2 && c.Status().State == StateReady })
		}, TopicCrashed},
		{"return", supervision.Transient, func(t *testing.T, r *Runtime, c *Capsule) {
			if _, err := r.Publish(context.Background(), "hold.ctl", []byte(`2`), bus.System()); err != nil {
				t.Fatal(err)
			}
			waitDone(t, c)
		}, TopicExited},
		{"stop", supervision.Permanent, func(t *testing.T, r *Runtime, c *Capsule) {
			if err := c.Stop(context.Background()); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"unload", supervision.Permanent, func(t *testing.T, r *Runtime, c *Capsule) {
			if err := r.Unload(context.Background(), "hold"); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"runtime close", supervision.Permanent, func(t *testing.T, r *Runtime, c *Capsule) {
			if err := r.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRuntime(t)
			evSub := hostSubscribe(t, r, "astrid.v1.capsule.*")
			c := holdCapsule(t, r, tt.restart)
			publishN(t, r, "hold.in", 1000, bus.Verified("p"))
			if _, err := r.Publish(context.Background(), "hold.ctl", []byte(`3`), bus.System()); err != nil {
				t.Fatal(err)
			}
			checkFor(t, 10*time.Second, "the drain of hold.in", func() bool { return c.Status().Delivered == ctl+256 })
			publishN(t, r, "hold.in", 100, bus.Verified("p"))
			checkTraffic(t, "before the end", c.Status().Traffic,
				Traffic{Matched: 1100 + ctl, Delivered: 256 + ctl, Dropped: 744, Evicted: 744, Queued: 100})

			tt.end(t, r, c)
			extra := uint64(0)
			if tt.event != "" {
				extra = 1 // the control message that ended it
			}
			want := Traffic{Matched: 1100 + ctl + extra, Delivered: 256 + ctl + extra, Dropped: 744, Evicted: 744, Discarded: 100}
			checkTraffic(t, "after the end", c.Status().Traffic, want)
			if tt.event == "" {
				return
			}
			m := receive(t, evSub, 1, 10*time.Second)[0]
			if m.Topic != tt.event {
				t.Fatalf("event %s, want %s", m.Topic, tt.event)
			}
			var raw struct {
				Discarded *uint64                     `json:"discarded"`
				Totals    map[string]*json.RawMessage `json:"totals"`
			}
			if err := json.Unmarshal(m.Payload, &raw); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"published", "matched", "delivered", "dropped", "evicted", "oversize", "discarded", "queued"} {
				if raw.Totals[k] == nil {
					t.Errorf("event %s: totals.%s missing in %s", m.Topic, k, m.Payload)
				}
			}
			if raw.Discarded == nil || *raw.Discarded != 100 {
				t.Errorf("event %s: discarded missing or not 100 in %s", m.Topic, m.Payload)
			}
			ev, ok := decodeEvent(m)
			if !ok {
				t.Fatalf("event %s does not decode", m.Payload)
			}
			checkTraffic(t, "event totals", ev.Totals, want)
		})
	}
}
