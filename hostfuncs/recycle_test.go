package hostfuncs

import (
	"bytes"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/bus"
)

// TestRecvReleasesDeliveredMessages: a capsule publishes and another receives through the
// real host functions. The receiver's poll copies each batch into guest memory and releases it
// (keeping the caller until the next batch), so the bus reuses the messages: with the GC off,
// the publishes of many rounds use a handful of distinct messages. A Go subscriber that keeps
// its messages without releasing them still finds them intact at the end, the envelopes carry
// every payload byte for byte, and get-caller describes the first message of the last batch.
func TestRecvReleasesDeliveredMessages(t *testing.T) {
	for _, keeper := range []bool{false, true} {
		t.Run(fmt.Sprintf("go-keeper=%v", keeper), func(t *testing.T) {
			defer debug.SetGCPercent(debug.SetGCPercent(-1))
			w := newWorld(t)
			pub := w.guest(Config{Grants: Grants{Publish: []string{"r.*"}}, Limits: Limits{ThroughputBytesPerSec: 1 << 30, ThroughputMessagesPerSec: 1 << 30}})
			sub := w.guest(Config{Grants: Grants{Subscribe: []string{"r.*"}}})
			h := sub.mustSubscribe("r.*")
			var kept *bus.Subscription
			if keeper {
				s, err := w.bus.Subscribe(t.Context(), "r.*", bus.SubscribeOptions{})
				if err != nil {
					t.Fatal(err)
				}
				kept = s
			}
			var mu sync.Mutex
			seen := map[uintptr]bool{}
			w.bus.Tap(func(m *bus.Message) { // records addresses only: keeps nothing
				mu.Lock()
				seen[uintptr(unsafe.Pointer(m))] = true
				mu.Unlock()
			})
			const rounds, perRound = 40, 4
			tp, tl := pub.put("r.x")
			payloads := make([][2]uint64, perRound)
			want := make([]string, perRound)
			for k := range perRound {
				want[k] = `"` + strings.Repeat(string(rune('a'+k)), 100*(k+1)) + `"`
				p, l := pub.put(want[k])
				payloads[k] = [2]uint64{p, l}
			}
			buf, out := sub.alloc(64<<10), sub.alloc(4)
			rec, recLen := sub.alloc(256), sub.alloc(4)
			var keptMsgs []*bus.Message
			for round := range rounds {
				for k := range perRound {
					if c := pub.call("call_publish", tp, tl, payloads[k][0], payloads[k][1]); c != abi.OK {
						t.Fatalf("round %d: publish = %v", round, c)
					}
				}
				r := sub.envelope(sub.call("call_poll", uint64(h), uint64(buf), 64<<10, uint64(out)), buf, out)
				if r.code != abi.OK || len(r.env.Messages) != perRound {
					t.Fatalf("round %d: poll = %v with %d messages, want %d", round, r.code, len(r.env.Messages), perRound)
				}
				for k, m := range r.env.Messages {
					if string(m.Payload) != want[k] || m.Topic != "r.x" {
						t.Fatalf("round %d message %d: %q on %q, want %.20q… on r.x", round, k, m.Payload, m.Topic, want[k])
					}
				}
				if c := sub.call("call_caller", uint64(rec), 256, uint64(recLen)); c != abi.OK {
					t.Fatalf("get-caller = %v", c)
				}
				c, err := abi.DecodeCaller(sub.bytes(rec, sub.u32(recLen)))
				if err != nil || c.SourceID != pub.in.cfg.InstanceID || c.TimeUnixNano != r.env.Messages[0].TimeUnixNano {
					t.Fatalf("round %d: caller %+v (%v), want the first message of the batch", round, c, err)
				}
				if kept != nil {
					keptMsgs = append(keptMsgs, kept.Poll().Messages...)
				}
			}
			for i, m := range keptMsgs {
				if k := i % perRound; !bytes.Equal(m.Payload, []byte(want[k])) || m.Topic != "r.x" || m.Source != pub.in.cfg.InstanceID {
					t.Fatalf("kept message %d changed: %.30q on %q", i, m.Payload, m.Topic)
				}
			}
			mu.Lock()
			distinct := len(seen)
			mu.Unlock()
			t.Logf("%d publishes used %d distinct messages", rounds*perRound, distinct)
			if keeper {
				if distinct != rounds*perRound {
					t.Fatalf("with a subscriber that keeps every message, %d publishes used %d messages, want all distinct", rounds*perRound, distinct)
				}
				return
			}
			// Each round's messages come back to the pools once polled, except the caller, held
			// until the next batch (sync.Pool drops some items under the race detector).
			if distinct > rounds*perRound/2 {
				t.Fatalf("%d publishes used %d distinct messages: the capsule's recv does not release them", rounds*perRound, distinct)
			}
		})
	}
}
