package hostfuncs

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/bus"
)

// The tests of this file check the points the contract clarified on 2026-12-01
// (shared/spec/abi.md §1–§3), each against a real instance of hostcalls.wasm.

// A buffer smaller than the envelope header gets the size of the header plus the first record,
// so a guest retrying with that size makes progress; nothing is consumed meanwhile.
func TestBufferSmallerThanHeaderNeedsHeaderPlusFirstRecord(t *testing.T) {
	w := newWorld(t)
	g := w.guest(Config{Grants: Grants{Subscribe: []string{"t"}}})
	h := g.mustSubscribe("t")
	payload := `{"k":"` + strings.Repeat("v", 33) + `"}` // record: 48 + 1 + 41 + 2 = 92 bytes
	if _, err := w.bus.Publish("t", []byte(payload), uuid.Nil, bus.Verified("al")); err != nil {
		t.Fatal(err)
	}
	need := uint32(abi.EnvelopeHeaderSize + abi.MessageSize(1, len(payload), 2))
	if abi.MessageSize(1, len(payload), 2) != 92 {
		t.Fatalf("record size %d, the test wants a 92-byte record", abi.MessageSize(1, len(payload), 2))
	}
	for _, bufCap := range []uint32{0, 1, 23, 24, need - 1} {
		if r := g.poll(h, bufCap); r.code != abi.BufferTooSmall || r.n != need {
			t.Fatalf("poll with %d bytes = %v, size needed %d; want buffer-too-small, %d", bufCap, r.code, r.n, need)
		}
	}
	// The guest of the contract: retry with what the host asked for.
	r := g.poll(h, 0)
	r = g.poll(h, r.n)
	if r.code != abi.OK || len(r.env.Messages) != 1 || string(r.env.Messages[0].Payload) != payload || r.n != need {
		t.Fatalf("retry with the size needed = %+v", r)
	}
	// An empty mailbox: the smallest result is the bare header.
	if r := g.poll(h, 10); r.code != abi.BufferTooSmall || r.n != abi.EnvelopeHeaderSize {
		t.Fatalf("poll of an empty mailbox with 10 bytes = %v need %d", r.code, r.n)
	}
}

// A dropped count that a buffer smaller than the header cannot report is not lost: the next
// envelope of the subscription reports it.
func TestDroppedCountSurvivesATooSmallBuffer(t *testing.T) {
	w := newWorld(t)
	g := w.guest(Config{Grants: Grants{Subscribe: []string{"t"}}, Limits: Limits{Mailbox: bus.MailboxLimits{Bytes: 16}}})
	h := g.mustSubscribe("t")
	// Oversize for this mailbox: rejected and counted, nothing queued.
	if _, err := w.bus.Publish("t", []byte(`"`+strings.Repeat("x", 30)+`"`), uuid.Nil, bus.System()); err != nil {
		t.Fatal(err)
	}
	if r := g.poll(h, 8); r.code != abi.BufferTooSmall || r.n != abi.EnvelopeHeaderSize {
		t.Fatalf("poll with 8 bytes = %v need %d", r.code, r.n)
	}
	if r := g.poll(h, abi.EnvelopeHeaderSize); r.code != abi.OK || r.env.Dropped != 1 || len(r.env.Messages) != 0 {
		t.Fatalf("next poll = %+v, want dropped 1", r)
	}
	if r := g.poll(h, abi.EnvelopeHeaderSize); r.code != abi.OK || r.env.Dropped != 0 {
		t.Fatalf("third poll = %+v, want dropped 0", r)
	}
	if c := g.in.Counters(); c.Dropped != 1 {
		t.Fatalf("counters %+v, want 1 dropped", c)
	}
}

// ready_cap and the length subscription-wait writes are bytes, 4 per handle; the host never
// writes past ready_cap.
func TestWaitReadyCapIsBytes(t *testing.T) {
	w := newWorld(t)
	g := w.guest(Config{Grants: Grants{Subscribe: []string{"w.*"}}})
	h1, h2 := g.mustSubscribe("w.1"), g.mustSubscribe("w.2")
	for _, topic := range []string{"w.1", "w.2"} {
		if _, err := w.bus.Publish(topic, []byte(`1`), uuid.Nil, bus.System()); err != nil {
			t.Fatal(err)
		}
	}
	handles := g.alloc(8)
	g.mod.Memory().Write(handles, le32(h1, h2))
	tests := []struct {
		readyCap uint32
		want     abi.Code
		lenOut   uint32
		handles  []uint32
	}{
		{0, abi.BufferTooSmall, 4, nil},
		{3, abi.BufferTooSmall, 4, nil},
		{4, abi.OK, 4, []uint32{h1}},
		{7, abi.OK, 4, []uint32{h1}},
		{8, abi.OK, 8, []uint32{h1, h2}},
		{64, abi.OK, 8, []uint32{h1, h2}},
	}
	const sentinel = 0xA5A5A5A5
	for _, tt := range tests {
		ready, readyOut := g.alloc(tt.readyCap+8), g.alloc(4)
		fill := make([]uint32, (tt.readyCap+8+3)/4)
		for i := range fill {
			fill[i] = sentinel
		}
		g.mod.Memory().Write(ready, le32(fill...))
		c := g.call("call_wait", uint64(handles), 2, 0, uint64(ready), uint64(tt.readyCap), uint64(readyOut))
		if c != tt.want || g.u32(readyOut) != tt.lenOut {
			t.Fatalf("wait with ready_cap %d = %v, len %d; want %v, %d", tt.readyCap, c, g.u32(readyOut), tt.want, tt.lenOut)
		}
		for i, want := range tt.handles {
			if got := g.u32(ready + uint32(4*i)); got != want {
				t.Fatalf("ready_cap %d: handle %d = %d, want %d", tt.readyCap, i, got, want)
			}
		}
		// Nothing written past the handles written, let alone past ready_cap.
		for off := uint32(4 * len(tt.handles)); off+4 <= tt.readyCap+8; off += 4 {
			if got := g.u32(ready + off); got != sentinel {
				t.Fatalf("ready_cap %d: byte %d overwritten (%#x)", tt.readyCap, off, got)
			}
		}
	}
}

// The 1 MiB envelope budget counts payload bytes only: 16 messages of 64 KiB of payload fill
// one envelope, whatever their topics take; a 17th goes to the next.
func TestEnvelopeBudgetCountsPayloadOnly(t *testing.T) {
	w := newWorld(t)
	g := w.guest(Config{Grants: Grants{Subscribe: []string{"t.*"}}, Limits: Limits{Mailbox: bus.MailboxLimits{Bytes: 4 << 20}}})
	if _, ok := g.mod.Memory().Grow(32); !ok { // room for a 1.5 MiB buffer
		t.Fatal("grow guest memory")
	}
	h := g.mustSubscribe("t.*")
	payload := []byte(`"` + strings.Repeat("x", 64<<10-2) + `"`)
	topic := "t." + strings.Repeat("long", 60) // 242 bytes of topic per message
	for range 17 {
		if _, err := w.bus.Publish(topic, payload, uuid.Nil, bus.System()); err != nil {
			t.Fatal(err)
		}
	}
	r := g.poll(h, 3<<19)
	if r.code != abi.OK || len(r.env.Messages) != 16 {
		t.Fatalf("first envelope: %v with %d messages, want 16", r.code, len(r.env.Messages))
	}
	r = g.poll(h, 3<<19)
	if r.code != abi.OK || len(r.env.Messages) != 1 {
		t.Fatalf("second envelope: %v with %d messages, want 1", r.code, len(r.env.Messages))
	}
}

// Range checks come before every other check of every function: a bogus pointer or length is
// invalid-input, whatever else is wrong with the call.
func TestRangeChecksComeFirst(t *testing.T) {
	w := newWorld(t)
	limits := Limits{ThroughputMessagesPerSec: 1}
	at := time.Unix(1e9, 0)
	g := w.guest(Config{Grants: Grants{Publish: []string{"p"}, Subscribe: []string{"s"}}, Limits: limits,
		Shared: NewShared(limits, SharedOptions{Now: func() time.Time { return at }})})
	h := g.mustSubscribe("s")
	if c := g.publish("p", `1`); c != abi.OK {
		t.Fatalf("first publish = %v", c)
	}
	if c := g.publish("p", `1`); c != abi.RateLimited { // the budget is spent from here on
		t.Fatalf("second publish = %v, want rate-limited", c)
	}
	tp, tl := g.put("p")
	dp, dl := g.put("denied")
	pp, pl := g.put(`1`)
	end := uint64(g.mod.Memory().Size())
	const wrap = 0xFFFFFFFF
	valid := uint64(g.alloc(64))
	tests := []struct {
		name string
		fn   string
		args []uint64
	}{
		{"publish: payload_len 0xFFFFFFFF while rate-limited", "call_publish", []uint64{tp, tl, pp, wrap}},
		{"publish: payload past the end while rate-limited", "call_publish", []uint64{tp, tl, end - 1, 2}},
		{"publish: denied topic, payload past the end", "call_publish", []uint64{dp, dl, end, 1}},
		{"publish: topic over 256 bytes and past the end", "call_publish", []uint64{end - 10, 300, pp, pl}},
		{"publish-as: no uplink, principal past the end", "call_publish_as", []uint64{tp, tl, pp, pl, end, 3}},
		{"publish-as: no uplink, payload wraps", "call_publish_as", []uint64{tp, tl, wrap, 2, valid, 1}},
		{"subscribe: denied pattern, handle out past the end", "call_subscribe", []uint64{dp, dl, end - 2}},
		{"poll: unknown handle, buffer past the end", "call_poll", []uint64{4242, end - 4, 8, valid}},
		{"poll: live handle, len out wraps", "call_poll", []uint64{uint64(h), valid, 32, wrap}},
		{"recv: unknown handle, buffer wraps", "call_recv", []uint64{4242, 0, wrap, 8, valid}},
		{"wait: 129 handles past the end", "call_wait", []uint64{end - 16, abi.MaxWaitHandles + 1, 0, valid, 4, valid + 8}},
		{"wait: unknown handle, ready buffer past the end", "call_wait", []uint64{valid, 1, 0, end - 2, 4, valid + 8}},
		{"log: bad level, message past the end", "call_log", []uint64{9, end, 1}},
		{"log: message over 64 KiB and past the end", "call_log", []uint64{2, end - 100, MaxLogBytes + 1}},
		{"random-bytes: over 4096 and past the end", "call_random", []uint64{end - 100, abi.MaxRandomBytes + 1}},
		{"get-config: key over 256 bytes and past the end", "call_config", []uint64{end - 10, 300, valid, 16, valid + 32}},
		{"get-config: key over 256 bytes, len out past the end", "call_config", []uint64{valid, 300, valid, 16, end}},
		{"get-caller: buffer past the end", "call_caller", []uint64{end - 8, 64, valid}},
		{"get-interceptor-bindings: len out wraps", "call_bindings", []uint64{valid, 4, wrap}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := g.call(tt.fn, tt.args...); got != abi.InvalidInput {
				t.Fatalf("%s%v = %v, want invalid-input", tt.fn, tt.args, got)
			}
		})
	}
}

// Order within and across principals (ABI §3.1): each principal's messages arrive in publish
// order, envelopes never mix principals, and under a flooding principal the others are served
// in turn — nothing is lost, nothing delivered twice.
func TestOrderWithinAndAcrossPrincipals(t *testing.T) {
	w := newWorld(t)
	g := w.guest(Config{Grants: Grants{Subscribe: []string{"o"}}, Limits: Limits{Mailbox: bus.MailboxLimits{PerPrincipal: 1000, Bytes: 1 << 20}}})
	h := g.mustSubscribe("o")
	principals := []bus.Principal{bus.Verified("flood"), bus.Verified("a"), bus.Claimed("a"), bus.System()}
	sent := map[bus.Principal]int{}
	for i := range 600 {
		p := principals[0]
		if i%20 == 0 {
			p = principals[1+(i/20)%3]
		}
		if _, err := w.bus.Publish("o", []byte(`"`+p.String()+`"`), uuid.Nil, p); err != nil {
			t.Fatal(err)
		}
		sent[p]++
	}
	lastSeq := map[bus.Principal]uint64{}
	got := map[bus.Principal]int{}
	firstEnvelopeOf := map[bus.Principal]int{}
	for call := 0; ; call++ {
		r := g.poll(h, 2048)
		if r.code != abi.OK || r.env.Dropped != 0 {
			t.Fatalf("poll = %v dropped %d", r.code, r.env.Dropped)
		}
		if len(r.env.Messages) == 0 {
			break
		}
		m0 := r.env.Messages[0]
		p := bus.Principal{Kind: m0.PrincipalKind, ID: m0.Principal}
		if _, ok := firstEnvelopeOf[p]; !ok {
			firstEnvelopeOf[p] = call
		}
		for _, m := range r.env.Messages {
			if m.PrincipalKind != p.Kind || m.Principal != p.ID {
				t.Fatalf("envelope %d mixes principals", call)
			}
			if m.Seq <= lastSeq[p] {
				t.Fatalf("%v: seq %d after %d: out of publish order", p, m.Seq, lastSeq[p])
			}
			lastSeq[p] = m.Seq
			got[p]++
		}
	}
	for _, p := range principals {
		if got[p] != sent[p] {
			t.Fatalf("%v: received %d of %d", p, got[p], sent[p])
		}
		// Fair scheduling: every principal is served within the first round of envelopes.
		if firstEnvelopeOf[p] >= len(principals) {
			t.Fatalf("%v first served in envelope %d, after the flooder had %d turns", p, firstEnvelopeOf[p], firstEnvelopeOf[p])
		}
	}
}
