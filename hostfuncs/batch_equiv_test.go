package hostfuncs

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/bus"
)

// TestPublishBatchEqualsPublishes runs each case's records once as one publish-batch (batch.wasm)
// and once as publishes one by one until the first refusal (hostcalls.wasm), each in a world of
// its own with the same subscriptions, limits and clock: the code, the count, what every
// subscriber receives and loses, the counters, the rate window's charge and the audit lines
// (but for the function's name, and publish-batch's line for the whole call) must be the same.
func TestPublishBatchEqualsPublishes(t *testing.T) {
	ok := func(topic string, n int) []rec {
		rs := make([]rec, n)
		for i := range rs {
			rs[i] = rec{topic, fmt.Sprintf(`{"i":%d}`, i)}
		}
		return rs
	}
	join := func(parts ...[]rec) []rec {
		var rs []rec
		for _, p := range parts {
			rs = append(rs, p...)
		}
		return rs
	}
	longTopic := "b." + strings.Repeat("t", abi.MaxTopicBytes)
	bigPayload := `"` + strings.Repeat("x", abi.MaxPayloadBytes) + `"`
	tests := []struct {
		name   string
		recs   []rec
		limits Limits
		want   abi.Code
	}{
		{"all ok, several topics", join(ok("b.1", 3), ok("b.2", 2), ok("c.1", 1), ok("b.1", 70)), Limits{}, abi.OK},
		{"evictions", ok("b.1", 300), Limits{}, abi.OK},
		{"denied topic", join(ok("b.1", 2), []rec{{"denied", `1`}}, ok("b.1", 2)), Limits{}, abi.CapabilityDenied},
		{"invalid topic", join(ok("b.1", 2), []rec{{"b..x", `1`}}, ok("b.1", 2)), Limits{}, abi.InvalidInput},
		{"topic too long", join(ok("b.1", 2), []rec{{longTopic, `1`}}), Limits{}, abi.InvalidInput},
		{"payload too large", join(ok("b.2", 1), []rec{{"b.2", bigPayload}}), Limits{ThroughputBytesPerSec: 4 << 20}, abi.InvalidInput},
		{"bad JSON", join(ok("b.1", 2), []rec{{"b.2", `{`}}, ok("b.1", 2)), Limits{}, abi.InvalidInput},
		{"empty payload", join(ok("b.1", 1), []rec{{"b.1", ``}}), Limits{}, abi.InvalidInput},
		{"rate-limited by messages", ok("b.1", 5), Limits{ThroughputMessagesPerSec: 3}, abi.RateLimited},
		{"rate-limited by bytes", ok("b.1", 5), Limits{ThroughputBytesPerSec: 20}, abi.RateLimited},
		// publish charges the rate limit before the ACL: a denied record past the budget is
		// rate-limited, one within it is denied and its charge given back.
		{"denied past the budget", join(ok("b.1", 2), []rec{{"denied", `1`}}), Limits{ThroughputMessagesPerSec: 2}, abi.RateLimited},
		{"denied within the budget", join(ok("b.1", 2), []rec{{"denied", `1`}}), Limits{ThroughputMessagesPerSec: 3}, abi.CapabilityDenied},
		{"bad JSON within the budget", join(ok("b.1", 2), []rec{{"b.1", `{`}}, ok("b.1", 2)), Limits{ThroughputMessagesPerSec: 4}, abi.InvalidInput},
		{"first record refused", join([]rec{{"denied", `1`}}, ok("b.1", 2)), Limits{}, abi.CapabilityDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := uuid.New()
			run := func(batch bool) (abi.Code, uint32, string) {
				w := newWorld(t)
				at := time.Unix(1e9, 0)
				cfg := Config{InstanceID: id, Grants: Grants{Publish: []string{"b.*", "c.*"}}, Limits: tt.limits,
					Shared: NewShared(tt.limits, SharedOptions{Now: func() time.Time { return at }})}
				var subs []*bus.Subscription
				for _, s := range []struct {
					pattern string
					limits  bus.MailboxLimits
				}{{"b.*", bus.MailboxLimits{PerPrincipal: 4096, Bytes: 8 << 20}}, {"b.1", bus.MailboxLimits{PerPrincipal: 5}}, {"c.*", bus.MailboxLimits{Bytes: 30}}} {
					sub, err := w.bus.Subscribe(context.Background(), s.pattern, bus.SubscribeOptions{Mailbox: s.limits})
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { _ = sub.Close(context.Background()) })
					subs = append(subs, sub)
				}
				var code abi.Code
				var n uint32
				if batch {
					g := w.guestOf(w.compile("batch.wasm"), cfg)
					code, n = g.batch(records(tt.recs...))
					return code, n, observed(w, g, subs)
				}
				g := w.guest(cfg)
				for _, r := range tt.recs {
					if code = g.publish(r.topic, r.payload); code != abi.OK {
						break
					}
					n++
				}
				return code, n, observed(w, g, subs)
			}
			sc, sn, single := run(false)
			bc, bn, batch := run(true)
			if sc != tt.want {
				t.Fatalf("single publishes end with %v, the case expects %v", sc, tt.want)
			}
			if bc != sc || bn != sn {
				t.Fatalf("publish-batch = %v, accepted %d; single publishes %v, %d", bc, bn, sc, sn)
			}
			if single != batch {
				sl, bl := strings.Split(single, "\n"), strings.Split(batch, "\n")
				for i := range max(len(sl), len(bl)) {
					if i >= len(sl) || i >= len(bl) || sl[i] != bl[i] {
						t.Fatalf("publish-batch differs from publishes at line %d of %d/%d:\n--- publishes\n%.2000s\n--- publish-batch\n%.2000s",
							i, len(sl), len(bl), strings.Join(sl[i:], "\n"), strings.Join(bl[i:], "\n"))
					}
				}
			}
		})
	}
}

// observed renders what the subscribers of w received and lost, the bus's and the instance's
// counters, the charge of g's rate window and the audit lines without the function's name.
func observed(w *world, g *guest, subs []*bus.Subscription) string {
	var sb strings.Builder
	for i, s := range subs {
		fmt.Fprintf(&sb, "sub %d %+v:", i, s.Mailbox().Stats())
		for {
			b := s.Mailbox().Drain(nil, 16<<20, func(*bus.Message) bool { return true })
			if len(b.Messages) == 0 {
				break
			}
			for _, m := range b.Messages {
				fmt.Fprintf(&sb, " %d/%s/%.20s/%v/%s", m.Seq, m.Topic, m.Payload, m.Principal, m.Source)
			}
		}
		sb.WriteString("\n")
	}
	fmt.Fprintf(&sb, "bus %+v\ninstance %+v\n", w.bus.Stats(), g.in.Counters())
	l := g.in.limiter
	l.mu.Lock()
	for p, win := range l.windows {
		fmt.Fprintf(&sb, "window %v: %d bytes, %d messages\n", p, win.bytes, win.messages)
	}
	l.mu.Unlock()
	var lines []string
	for _, e := range w.logs.All() {
		m := e.ContextMap()
		if _, refusal := m["error"]; !refusal && m["topic"] == "" {
			continue // publish-batch's line for the whole successful call (abiPublishBatch)
		}
		delete(m, "fn")
		lines = append(lines, fmt.Sprintf("%s %v %s %v", e.LoggerName, e.Level, e.Message, m))
	}
	sort.Strings(lines) // the order of map keys is not at issue
	sb.WriteString(strings.Join(lines, "\n"))
	return sb.String()
}
