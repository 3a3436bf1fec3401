package hostfuncs

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap/zapcore"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/bus"
)

func TestPublishChecks(t *testing.T) {
	w := newWorld(t)
	g := w.guest(Config{Grants: Grants{Publish: []string{"a.*", "x.y"}}})
	mib := strings.Repeat("x", abi.MaxPayloadBytes-2)
	tests := []struct {
		name, topic, payload string
		want                 abi.Code
	}{
		{"ok", "a.b", `{"k":1}`, abi.OK},
		{"subtree ACL", "a.b.c.d", `1`, abi.OK},
		{"exact ACL", "x.y", `[]`, abi.OK},
		{"payload exactly 1 MiB", "a.b", `"` + mib + `"`, abi.OK},
		{"ACL miss", "x.z", `1`, abi.CapabilityDenied},
		{"ACL key is not its own subtree root", "a", `1`, abi.CapabilityDenied},
		{"topic over 256 bytes", "a." + strings.Repeat("b", 255), `1`, abi.InvalidInput},
		{"empty segment", "a..b", `1`, abi.InvalidInput},
		{"trailing dot", "a.", `1`, abi.InvalidInput},
		{"empty topic", "", `1`, abi.InvalidInput},
		{"9 segments", "a.1.2.3.4.5.6.7.8", `1`, abi.InvalidInput},
		{"invalid UTF-8", "a.\xff", `1`, abi.InvalidInput},
		{"payload not JSON", "a.b", `{`, abi.InvalidInput},
		{"payload empty", "a.b", ``, abi.InvalidInput},
		{"payload over 1 MiB", "a.b", `"` + mib + `x"`, abi.InvalidInput},
		{"payload UTF-8", "a.b", `"é😀"`, abi.OK},
		{"payload invalid UTF-8 in a string", "a.b", "\"\xff\"", abi.InvalidInput},
		{"payload truncated UTF-8", "a.b", "[\"\xc3\"]", abi.InvalidInput},
		{"payload UTF-8 surrogate", "a.b", "\"\xed\xa0\x80\"", abi.InvalidInput},
		{"payload bare invalid byte", "a.b", "\xff", abi.InvalidInput},
	}
	sub, err := w.bus.Subscribe(context.Background(), "a.*", bus.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	okCount := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g.next = 1024
			if got := g.publish(tt.topic, tt.payload); got != tt.want {
				t.Fatalf("publish(%.40q) = %v, want %v", tt.topic, got, tt.want)
			}
		})
		if tt.want == abi.OK && strings.HasPrefix(tt.topic, "a.") {
			okCount++
		}
	}
	// The default mailbox holds even the largest publishable message.
	if st := sub.Mailbox().Stats(); st.Queued != okCount || st.Dropped() != 0 {
		t.Fatalf("subscriber has %d messages queued, %d dropped; want %d, 0", st.Queued, st.Dropped(), okCount)
	}
}

func TestPublishWithoutACLIsDenied(t *testing.T) {
	g := newWorld(t).guest(Config{})
	if got := g.publish("a", `1`); got != abi.CapabilityDenied {
		t.Fatalf("publish with empty ACL = %v", got)
	}
	if _, got := g.subscribe("a"); got != abi.CapabilityDenied {
		t.Fatalf("subscribe with empty ACL = %v", got)
	}
}

func TestPublishAs(t *testing.T) {
	w := newWorld(t)
	sub, _ := w.bus.Subscribe(context.Background(), "up.*", bus.SubscribeOptions{})
	plain := w.guest(Config{Grants: Grants{Publish: []string{"up.*"}}})
	uplink := w.guest(Config{Grants: Grants{Publish: []string{"up.*"}, Uplink: true}})
	tests := []struct {
		name      string
		g         *guest
		principal string
		want      abi.Code
	}{
		{"no uplink grant", plain, "alice", abi.CapabilityDenied},
		{"uplink", uplink, "alice", abi.OK},
		{"empty principal", uplink, "", abi.InvalidInput},
		{"principal with a dot", uplink, "a.b", abi.InvalidInput},
		{"principal of 65 chars", uplink, strings.Repeat("p", 65), abi.InvalidInput},
		{"principal of 64 chars", uplink, strings.Repeat("p", 64), abi.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.g.publishAs("up.x", `{}`, tt.principal); got != tt.want {
				t.Fatalf("publish-as %q = %v, want %v", tt.principal, got, tt.want)
			}
		})
	}
	msgs := sub.Mailbox().Drain(nil, 1<<20, func(*bus.Message) bool { return true }).Messages
	if len(msgs) != 1 || msgs[0].Principal != bus.Claimed("alice") || msgs[0].Source != uplink.in.InstanceID() {
		t.Fatalf("delivered %v", msgs)
	}
}

func TestPrincipalPropagatesThroughCaller(t *testing.T) {
	w := newWorld(t)
	g := w.guest(Config{Owner: "owner", Grants: Grants{Publish: []string{"out"}, Subscribe: []string{"in"}}})
	out, _ := w.bus.Subscribe(context.Background(), "out", bus.SubscribeOptions{})
	h := g.mustSubscribe("in")

	// No caller yet: the owner.
	if c := g.publish("out", `1`); c != abi.OK {
		t.Fatal(c)
	}
	// Handle a message from claimed(bob): replies carry claimed(bob).
	if _, err := w.bus.Publish("in", []byte(`1`), uuid.New(), bus.Claimed("bob")); err != nil {
		t.Fatal(err)
	}
	if r := g.poll(h, 4096); r.code != abi.OK || len(r.env.Messages) != 1 {
		t.Fatalf("poll = %+v", r)
	}
	if c := g.publish("out", `2`); c != abi.OK {
		t.Fatal(c)
	}
	// An empty poll keeps the caller (Astrid 0.8).
	g.poll(h, 4096)
	if c := g.publish("out", `3`); c != abi.OK {
		t.Fatal(c)
	}
	// A system message makes the capsule act as its owner again.
	if _, err := w.bus.Publish("in", []byte(`1`), uuid.Nil, bus.System()); err != nil {
		t.Fatal(err)
	}
	g.poll(h, 4096)
	if c := g.publish("out", `4`); c != abi.OK {
		t.Fatal(c)
	}
	msgs := drain(out)
	// The mailbox batches by principal; restore publish order.
	slices.SortFunc(msgs, func(a, b *bus.Message) int { return cmp.Compare(a.Seq, b.Seq) })
	want := []bus.Principal{bus.Verified("owner"), bus.Claimed("bob"), bus.Claimed("bob"), bus.Verified("owner")}
	if len(msgs) != len(want) {
		t.Fatalf("got %d messages", len(msgs))
	}
	for i, m := range msgs {
		if m.Principal != want[i] {
			t.Errorf("publish %d carried %v, want %v", i, m.Principal, want[i])
		}
	}
}

func drain(s *bus.Subscription) []*bus.Message {
	var out []*bus.Message
	for {
		b := s.Mailbox().Drain(nil, 1<<20, func(*bus.Message) bool { return true })
		if len(b.Messages) == 0 {
			return out
		}
		out = append(out, b.Messages...)
	}
}

func TestSubscribeChecks(t *testing.T) {
	g := newWorld(t).guest(Config{Grants: Grants{Subscribe: []string{"foo.*", "a.*.c", "x"}}})
	tests := []struct {
		pattern string
		want    abi.Code
	}{
		{"foo.bar", abi.OK},
		{"foo.bar.baz", abi.OK},
		{"foo.*", abi.OK},
		{"foo.bar.*", abi.OK},
		{"x", abi.OK},
		{"a.b.c", abi.OK},
		{"a.*.c", abi.InvalidInput}, // allowed by the ACL, rejected by the subscribe gate
		{"*.b", abi.InvalidInput},
		{"foo.*.*", abi.InvalidInput},
		{"foo", abi.CapabilityDenied},
		{"y", abi.CapabilityDenied},
		{"x.*", abi.CapabilityDenied},
		{"", abi.InvalidInput},
		{"foo..bar", abi.InvalidInput},
		{"foo.1.2.3.4.5.6.7.8", abi.InvalidInput},
		{strings.Repeat("f", 257), abi.InvalidInput},
	}
	seen := map[uint32]bool{}
	for _, tt := range tests {
		h, got := g.subscribe(tt.pattern)
		if got != tt.want {
			t.Errorf("subscribe(%q) = %v, want %v", tt.pattern, got, tt.want)
		}
		if got == abi.OK {
			if seen[h] || h == 0 {
				t.Errorf("handle %d reused or zero", h)
			}
			seen[h] = true
		}
	}
	narrow := newWorld(t).guest(Config{Grants: Grants{Subscribe: []string{"foo.bar"}}})
	if _, got := narrow.subscribe("foo.*"); got != abi.CapabilityDenied {
		t.Errorf("key foo.bar allowed foo.*: %v", got)
	}
}

func TestSubscriptionQuota(t *testing.T) {
	g := newWorld(t).guest(Config{Grants: Grants{Subscribe: []string{"q.*"}}})
	var handles []uint32
	for i := range abi.MaxSubscriptions {
		handles = append(handles, g.mustSubscribe(fmt.Sprint("q.", i)))
		g.next = 1024
	}
	if _, c := g.subscribe("q.extra"); c != abi.Quota {
		t.Fatalf("subscription 129 = %v, want quota", c)
	}
	if c := g.call("call_drop", uint64(handles[0])); c != abi.OK {
		t.Fatalf("drop = %v", c)
	}
	h, c := g.subscribe("q.extra")
	if c != abi.OK {
		t.Fatalf("subscribe after drop = %v", c)
	}
	if h <= handles[len(handles)-1] {
		t.Fatalf("handle %d reused after drop", h)
	}
	if n := g.in.Subscriptions(); n != abi.MaxSubscriptions {
		t.Fatalf("%d live subscriptions", n)
	}
}

func TestPollAndDrop(t *testing.T) {
	w := newWorld(t)
	a := w.guest(Config{Grants: Grants{Subscribe: []string{"t"}}})
	b := w.guest(Config{Grants: Grants{Subscribe: []string{"t"}}})
	h := a.mustSubscribe("t")
	hb := b.mustSubscribe("t")
	if r := a.poll(h, 1024); r.code != abi.OK || len(r.env.Messages) != 0 || r.n != abi.EnvelopeHeaderSize {
		t.Fatalf("empty poll = %+v", r)
	}
	// Both capsules hold a subscription, yet neither's handle number means anything to the other.
	if r := b.poll(h, 1024); r.code != abi.Closed {
		t.Fatalf("poll of another capsule's handle = %v, want closed", r.code)
	}
	if r := a.poll(hb, 1024); r.code != abi.Closed {
		t.Fatalf("poll of another capsule's handle = %v, want closed", r.code)
	}
	if r := a.poll(999, 1024); r.code != abi.Closed {
		t.Fatalf("poll of unknown handle = %v", r.code)
	}
	for range 3 {
		if _, err := w.bus.Publish("t", []byte(`1`), uuid.Nil, bus.System()); err != nil {
			t.Fatal(err)
		}
	}
	sub := a.in.lookup(h)
	if c := a.call("call_drop", uint64(h)); c != abi.OK {
		t.Fatalf("drop = %v", c)
	}
	if st := sub.Mailbox().Stats(); st.Discarded != 3 {
		t.Fatalf("dropping discarded %d, want 3 counted", st.Discarded)
	}
	if r := a.poll(h, 1024); r.code != abi.Closed {
		t.Fatalf("poll of dropped handle = %v", r.code)
	}
	if c := a.call("call_drop", uint64(h)); c != abi.Closed {
		t.Fatalf("second drop = %v", c)
	}
}

func TestBufferTooSmallLosesNothing(t *testing.T) {
	w := newWorld(t)
	g := w.guest(Config{Grants: Grants{Subscribe: []string{"t.*"}}})
	h := g.mustSubscribe("t.*")
	payloads := []string{`{"n":1,"pad":"` + strings.Repeat("x", 500) + `"}`, `{"n":2}`, `{"n":3}`}
	for _, p := range payloads {
		if _, err := w.bus.Publish("t.x", []byte(p), uuid.Nil, bus.Verified("al")); err != nil {
			t.Fatal(err)
		}
	}
	first := abi.EnvelopeHeaderSize + abi.MessageSize(3, len(payloads[0]), 2)
	if r := g.poll(h, 100); r.code != abi.BufferTooSmall || r.n != uint32(first) {
		t.Fatalf("small poll = %v need %d, want buffer-too-small need %d", r.code, r.n, first)
	}
	// Smaller than the header: still the header plus the first record (ABI §1).
	if r := g.poll(h, 10); r.code != abi.BufferTooSmall || r.n != uint32(first) {
		t.Fatalf("tiny poll = %v need %d, want need %d", r.code, r.n, first)
	}
	// Exactly the first message fits: one message now, the rest next time.
	r := g.poll(h, uint32(first))
	if r.code != abi.OK || len(r.env.Messages) != 1 || string(r.env.Messages[0].Payload) != payloads[0] {
		t.Fatalf("retry = %+v", r)
	}
	r = g.poll(h, 4096)
	if r.code != abi.OK || len(r.env.Messages) != 2 || string(r.env.Messages[1].Payload) != payloads[2] {
		t.Fatalf("rest = %+v", r)
	}
	m := r.env.Messages[0]
	if m.Topic != "t.x" || m.Principal != "al" || m.PrincipalKind != abi.PrincipalVerified || m.Seq == 0 || m.TimeUnixNano == 0 {
		t.Fatalf("decoded message %+v", m)
	}
}

func TestMixedPrincipalsSplitAcrossCalls(t *testing.T) {
	w := newWorld(t)
	g := w.guest(Config{Grants: Grants{Subscribe: []string{"m"}}})
	h := g.mustSubscribe("m")
	principals := []bus.Principal{bus.Verified("a"), bus.Verified("a"), bus.Claimed("b"), bus.System(), bus.Verified("a")}
	for i, p := range principals {
		if _, err := w.bus.Publish("m", []byte(fmt.Sprint(i)), uuid.Nil, p); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]int{}
	for range 10 {
		r := g.poll(h, 4096)
		if len(r.env.Messages) == 0 {
			break
		}
		kind, id := r.env.Messages[0].PrincipalKind, r.env.Messages[0].Principal
		for _, m := range r.env.Messages {
			if m.PrincipalKind != kind || m.Principal != id {
				t.Fatalf("envelope mixes principals: %+v", r.env.Messages)
			}
			got[string(m.Payload)]++
		}
	}
	if len(got) != len(principals) {
		t.Fatalf("received %v, want all %d messages once", got, len(principals))
	}
}

func TestRecv(t *testing.T) {
	w := newWorld(t)
	g := w.guest(Config{Grants: Grants{Subscribe: []string{"r"}}})
	h := g.mustSubscribe("r")
	start := time.Now()
	if r := g.recv(h, 20*time.Millisecond, 1024); r.code != abi.OK || len(r.env.Messages) != 0 {
		t.Fatalf("recv timeout = %+v", r)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Fatalf("recv returned after %v, before its timeout", d)
	}
	g.whenYielding(func() { _, _ = w.bus.Publish("r", []byte(`"hi"`), uuid.Nil, bus.System()) })
	if r := g.recv(h, 10*time.Second, 1024); r.code != abi.OK || len(r.env.Messages) != 1 {
		t.Fatalf("recv = %+v", r)
	}
	if r := g.recv(77, time.Second, 1024); r.code != abi.Closed {
		t.Fatalf("recv unknown handle = %v", r.code)
	}
	// A negative timeout is a poll; a huge one is clamped (not observable quickly, so only
	// check it does not fail).
	if r := g.recv(h, -time.Second, 1024); r.code != abi.OK {
		t.Fatalf("recv negative timeout = %v", r.code)
	}
}

func TestRecvCancelledOnStop(t *testing.T) {
	w := newWorld(t)
	g := w.guest(Config{Grants: Grants{Subscribe: []string{"r"}}})
	h := g.mustSubscribe("r")
	g.whenYielding(g.stop)
	buf, out := g.alloc(1024), g.alloc(4)
	res, err := g.mod.ExportedFunction("call_recv").Call(g.ctx, uint64(h), uint64(60_000), uint64(buf), 1024, uint64(out))
	// With CloseOnContextDone the module is closed right after the host call returns, so the
	// guest's own return may be replaced by the exit error; either shows the cancellation.
	if err == nil && abi.Code(res[0]) != abi.Cancelled {
		t.Fatalf("recv after stop = %v", abi.Code(res[0]))
	}
}

func TestWait(t *testing.T) {
	w := newWorld(t)
	g := w.guest(Config{Grants: Grants{Subscribe: []string{"w.*"}}})
	h1, h2 := g.mustSubscribe("w.1"), g.mustSubscribe("w.2")
	handles := g.alloc(8)
	g.mod.Memory().Write(handles, le32(h1, h2))
	ready, readyOut := g.alloc(8), g.alloc(4)
	call := func(count, readyCap uint32, timeout time.Duration) abi.Code {
		return g.call("call_wait", uint64(handles), uint64(count), uint64(timeout.Milliseconds()), uint64(ready), uint64(readyCap), uint64(readyOut))
	}
	if c := call(2, 8, 10*time.Millisecond); c != abi.OK || g.u32(readyOut) != 0 {
		t.Fatalf("wait timeout = %v ready %d", c, g.u32(readyOut))
	}
	g.whenYielding(func() { _, _ = w.bus.Publish("w.2", []byte(`1`), uuid.Nil, bus.System()) })
	if c := call(2, 8, 10*time.Second); c != abi.OK || g.u32(readyOut) != 4 || g.u32(ready) != h2 {
		t.Fatalf("wait = %v ready bytes %d first %d", c, g.u32(readyOut), g.u32(ready))
	}
	if c := call(2, 0, time.Second); c != abi.BufferTooSmall || g.u32(readyOut) != 4 {
		t.Fatalf("wait with no room = %v need %d", c, g.u32(readyOut))
	}
	g.mod.Memory().Write(handles, le32(h1, 4242))
	if c := call(2, 8, time.Second); c != abi.Closed {
		t.Fatalf("wait on unknown handle = %v", c)
	}
	if c := call(abi.MaxWaitHandles+1, 2, time.Second); c != abi.TooLarge {
		t.Fatalf("wait on too many handles = %v", c)
	}
}

func TestRateLimit(t *testing.T) {
	w := newWorld(t)
	limits := Limits{ThroughputBytesPerSec: 100, ThroughputMessagesPerSec: 3}
	clock := time.Unix(1e9, 0)
	shared := NewShared(limits, SharedOptions{Now: func() time.Time { return clock }})
	g := w.guest(Config{Grants: Grants{Publish: []string{"r"}}, Limits: limits, Shared: shared})
	payload := `"` + strings.Repeat("x", 38) + `"` // 40 bytes
	// Rejected publishes are not charged.
	for range 10 {
		if c := g.publish("denied", payload); c != abi.CapabilityDenied {
			t.Fatalf("denied publish = %v", c)
		}
		if c := g.publish("r", `{`+strings.Repeat(" ", 38)+`x`); c != abi.InvalidInput {
			t.Fatalf("bad JSON publish = %v", c)
		}
		g.next = 1024
	}
	for i, want := range []abi.Code{abi.OK, abi.OK, abi.RateLimited} { // bytes: 40 + 40 + 40 > 100
		if c := g.publish("r", payload); c != want {
			t.Fatalf("publish %d = %v, want %v", i, c, want)
		}
	}
	// The message budget: a third small message fits the bytes (81 of 100) but not the count.
	if c := g.publish("r", `1`); c != abi.OK {
		t.Fatalf("small publish = %v", c)
	}
	if c := g.publish("r", `1`); c != abi.RateLimited {
		t.Fatalf("fourth message = %v, want rate-limited", c)
	}
	// Another principal has its own budget.
	g.in.SetCaller(&bus.Message{Principal: bus.Verified("other")})
	if c := g.publish("r", payload); c != abi.OK {
		t.Fatalf("other principal = %v", c)
	}
	// The window is fixed: just before its end the budget is still spent; at its end it resets.
	g.in.SetCaller(nil)
	clock = clock.Add(DefaultRateWindow - time.Nanosecond)
	if c := g.publish("r", `1`); c != abi.RateLimited {
		t.Fatalf("before the window ends = %v", c)
	}
	clock = clock.Add(time.Nanosecond)
	if c := g.publish("r", payload); c != abi.OK {
		t.Fatalf("after window = %v", c)
	}
	events := w.logs.FilterMessage("audit").FilterField(securityField).All()
	if len(events) == 0 || events[len(events)-1].Level != zapcore.InfoLevel {
		t.Fatalf("rate limit was not audited as a security event: %v", events)
	}
	if got := refusedCount(shared, fnPublish, abi.RateLimited); got != 3 {
		t.Fatalf("%d rate-limited publishes counted, want 3", got)
	}
}

// refusedCount returns the count of (fn, code) refusals of s.
func refusedCount(s *Shared, fn string, code abi.Code) uint64 {
	for _, r := range s.Refused() {
		if r.Fn == fn && r.Code == code {
			return r.Count
		}
	}
	return 0
}

// The budget belongs to the capsule: an instance made with the same Shared (a restart)
// continues where the previous one stopped; only a new Shared starts afresh.
func TestRateBudgetSurvivesANewInstance(t *testing.T) {
	w := newWorld(t)
	limits := Limits{ThroughputMessagesPerSec: 2}
	clock := time.Unix(1e9, 0)
	shared := NewShared(limits, SharedOptions{Now: func() time.Time { return clock }})
	cfg := Config{Grants: Grants{Publish: []string{"r"}}, Limits: limits, Shared: shared}
	first := w.guest(cfg)
	for i, want := range []abi.Code{abi.OK, abi.OK, abi.RateLimited} {
		if c := first.publish("r", `1`); c != want {
			t.Fatalf("first instance publish %d = %v, want %v", i, c, want)
		}
	}
	first.in.Release(context.Background())
	restarted := w.guest(cfg)
	if c := restarted.publish("r", `1`); c != abi.RateLimited {
		t.Fatalf("restarted instance = %v, want rate-limited (the capsule's budget is spent)", c)
	}
	fresh := w.guest(Config{Grants: cfg.Grants, Limits: limits})
	if c := fresh.publish("r", `1`); c != abi.OK {
		t.Fatalf("instance with its own Shared = %v", c)
	}
	clock = clock.Add(time.Second)
	if c := restarted.publish("r", `1`); c != abi.OK {
		t.Fatalf("restarted instance in the next window = %v", c)
	}
	if got := refusedCount(shared, fnPublish, abi.RateLimited); got != 2 {
		t.Fatalf("%d refusals counted over both instances, want 2", got)
	}
}

func TestBindings(t *testing.T) {
	bindings := []abi.Binding{{HandleID: 0, Priority: 10, Action: "on_a", Topic: "a.*"}, {HandleID: 1, Priority: 100, Action: "b", Topic: "b"}}
	g := newWorld(t).guest(Config{Bindings: bindings})
	buf, out := g.alloc(256), g.alloc(4)
	if c := g.call("call_bindings", uint64(buf), 8, uint64(out)); c != abi.BufferTooSmall {
		t.Fatalf("small = %v", c)
	}
	need := g.u32(out)
	if c := g.call("call_bindings", uint64(buf), uint64(need), uint64(out)); c != abi.OK {
		t.Fatalf("bindings = %v", c)
	}
	got, err := abi.DecodeBindings(g.bytes(buf, g.u32(out)))
	if err != nil || fmt.Sprint(got) != fmt.Sprint(bindings) {
		t.Fatalf("bindings = %v, %v", got, err)
	}
}

func TestCountersAndObserver(t *testing.T) {
	w := newWorld(t)
	var calls []string
	var took []time.Duration
	g := w.guest(Config{Grants: Grants{Publish: []string{"c"}, Subscribe: []string{"c"}},
		Observe: func(fn string, d time.Duration) { calls = append(calls, fn); took = append(took, d) }})
	start := time.Now()
	h := g.mustSubscribe("c")
	g.publish("c", `1`)
	g.publish("c", `2`)
	g.publish("nope", `3`)
	g.poll(h, 4096)
	// An empty subscription: recv waits out its timeout, and the observed duration says so.
	const timeout = 30 * time.Millisecond
	g.recv(h, timeout, 4096)
	elapsed := time.Since(start)
	if c := g.in.Counters(); c.Published != 2 || c.Delivered != 2 || c.Dropped != 0 {
		t.Fatalf("counters %+v", c)
	}
	if fmt.Sprint(calls) != "[subscribe publish publish publish subscription-poll subscription-recv]" {
		t.Fatalf("observed %v", calls)
	}
	// Each call's duration lies within the time the calls took together.
	var sum time.Duration
	for i, d := range took {
		sum += d
		if d < 0 || d > elapsed {
			t.Errorf("%s observed as %v; the calls took %v together", calls[i], d, elapsed)
		}
	}
	if sum > elapsed {
		t.Errorf("observed %v in all; the calls took %v", sum, elapsed)
	}
	if d := took[len(took)-1]; d < timeout {
		t.Errorf("recv with a %v timeout on an empty subscription observed as %v", timeout, d)
	}
}
