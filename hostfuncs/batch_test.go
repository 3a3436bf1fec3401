package hostfuncs

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/bus"
)

type rec struct{ topic, payload string }

func records(rs ...rec) []byte {
	var b []byte
	for _, r := range rs {
		b = abi.AppendBatchRecord(b, r.topic, []byte(r.payload))
	}
	return b
}

// batch writes b to the guest and calls publish-batch; it returns the code and the accepted
// count.
func (g *guest) batch(b []byte) (abi.Code, uint32) {
	g.t.Helper()
	p := g.alloc(uint32(len(b)))
	if !g.mod.Memory().Write(p, b) {
		g.t.Fatal("write guest memory")
	}
	out := g.alloc(4)
	g.mod.Memory().WriteUint32Le(out, 0xFFFFFFFF)
	c := g.call("call_publish_batch", uint64(p), uint64(len(b)), uint64(out))
	return c, g.u32(out)
}

// TestPublishBatch drives publish-batch of astrid:ipc@1.1.0 through batch.wasm, which imports
// only from 1.1.0.
func TestPublishBatch(t *testing.T) {
	w := newWorld(t)
	batchMod := w.compile("batch.wasm")
	tests := []struct {
		name     string
		records  []byte
		want     abi.Code
		accepted uint32
		got      []string // payloads the subscriber receives
	}{
		{"all ok", records(rec{"b.1", `1`}, rec{"b.2", `{"k":2}`}, rec{"b.1", `"3"`}), abi.OK, 3, []string{`1`, `{"k":2}`, `"3"`}},
		{"empty batch", nil, abi.OK, 0, nil},
		{"partial: denied topic", records(rec{"b.1", `1`}, rec{"denied", `2`}, rec{"b.1", `3`}), abi.CapabilityDenied, 1, []string{`1`}},
		{"partial: bad JSON", records(rec{"b.1", `1`}, rec{"b.2", `2`}, rec{"b.1", `{`}, rec{"b.1", `4`}), abi.InvalidInput, 2, []string{`1`, `2`}},
		{"partial: invalid UTF-8", records(rec{"b.1", `1`}, rec{"b.1", "\"\xff\""}), abi.InvalidInput, 1, []string{`1`}},
		{"malformed: lengths past records_len", append(records(rec{"b.1", `1`}), le32(3, 100)...), abi.InvalidInput, 1, []string{`1`}},
		{"malformed: truncated header", append(records(rec{"b.1", `1`}, rec{"b.2", `2`}), 1, 0, 0), abi.InvalidInput, 2, []string{`1`, `2`}},
		{"malformed first", le32(0xFFFFFFFF, 0xFFFFFFFF), abi.InvalidInput, 0, nil},
		{"too many records", records(func() []rec {
			rs := make([]rec, abi.MaxBatchRecords+1)
			for i := range rs {
				rs[i] = rec{"b.1", `1`}
			}
			return rs
		}()...), abi.TooLarge, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub2, err := w.bus.Subscribe(context.Background(), "b.*", bus.SubscribeOptions{Mailbox: bus.MailboxLimits{PerPrincipal: 2048}})
			if err != nil {
				t.Fatal(err)
			}
			defer sub2.Close(context.Background())
			g := w.guestOf(batchMod, Config{Grants: Grants{Publish: []string{"b.*"}}})
			c, accepted := g.batch(tt.records)
			if c != tt.want || accepted != tt.accepted {
				t.Fatalf("publish-batch = %v, accepted %d; want %v, %d", c, accepted, tt.want, tt.accepted)
			}
			got := sub2.Mailbox().Drain(nil, 1<<30, func(*bus.Message) bool { return true }).Messages
			if len(got) != len(tt.got) {
				t.Fatalf("subscriber got %d messages, want %d", len(got), len(tt.got))
			}
			for i, m := range got {
				// Indistinguishable from single publishes: the instance's source, its
				// principal, increasing seq.
				if string(m.Payload) != tt.got[i] || m.Source != g.in.InstanceID() || m.Principal != bus.Verified(DefaultOwner) ||
					(i > 0 && m.Seq <= got[i-1].Seq) {
					t.Fatalf("message %d = %+v", i, m)
				}
			}
			if n := g.in.Counters().Published; n != uint64(tt.accepted) {
				t.Fatalf("counted %d publishes, want %d", n, tt.accepted)
			}
		})
	}
}

func TestPublishBatchLimitsAndRanges(t *testing.T) {
	w := newWorld(t)
	batchMod := w.compile("batch.wasm")
	limits := Limits{ThroughputMessagesPerSec: 2}
	at := time.Unix(1e9, 0)
	g := w.guestOf(batchMod, Config{Grants: Grants{Publish: []string{"b.*"}}, Limits: limits,
		Shared: NewShared(limits, SharedOptions{Now: func() time.Time { return at }})})
	// The rate limit applies per record.
	if c, n := g.batch(records(rec{"b.1", `1`}, rec{"b.1", `2`}, rec{"b.1", `3`})); c != abi.RateLimited || n != 2 {
		t.Fatalf("batch over the message budget = %v, accepted %d; want rate-limited, 2", c, n)
	}
	// records_len over 4 MiB: too-large, nothing published (the budget is spent anyway, so
	// this also shows the size check comes before any record is tried).
	big := records(rec{"b.1", `"` + strings.Repeat("x", 1<<20-2) + `"`})
	for len(big) <= abi.MaxBatchBytes {
		big = append(big, big[:len(big)/4]...)
	}
	if c, n := g.batch(big[:abi.MaxBatchBytes+1]); c != abi.TooLarge || n != 0 {
		t.Fatalf("batch of %d bytes = %v, accepted %d; want too-large, 0", abi.MaxBatchBytes+1, c, n)
	}
	// Ranges first: records or accepted_out outside memory.
	end := uint64(g.mod.Memory().Size())
	valid := uint64(g.alloc(16))
	for _, args := range [][]uint64{{end - 4, 8, valid}, {valid, 0xFFFFFFFF, valid}, {valid, 0, end - 2}, {valid, 0, 0xFFFFFFFF}} {
		if c := g.call("call_publish_batch", args...); c != abi.InvalidInput {
			t.Fatalf("publish-batch%v = %v, want invalid-input", args, c)
		}
	}
	// The 1.0.0 functions are served under the 1.1.0 name.
	g2 := w.guestOf(batchMod, Config{Grants: Grants{Publish: []string{"b.*"}, Subscribe: []string{"b.*"}}})
	h := g2.mustSubscribe("b.*")
	if c, n := g2.batch(records(rec{"b.1", `1`}, rec{"b.2", `2`})); c != abi.OK || n != 2 {
		t.Fatalf("batch = %v, %d", c, n)
	}
	if r := g2.poll(h, 4096); r.code != abi.OK || len(r.env.Messages) != 2 || r.env.Messages[1].Topic != "b.2" {
		t.Fatalf("poll through ipc@1.1.0 = %+v", r)
	}
}

// FuzzPublishBatch passes arbitrary records buffers to publish-batch: no input may panic the
// host or trap the guest; the code is one of the ABI, the accepted count never exceeds the
// whole records the buffer holds, and exactly that many messages were published.
func FuzzPublishBatch(f *testing.F) {
	f.Add(records(rec{"b.1", `1`}, rec{"b.2", `2`}))
	f.Add(records(rec{"b.1", `1`}, rec{"x", `2`}))
	f.Add(append(records(rec{"b.1", `[1]`}), 9, 0, 0, 0, 1, 0, 0, 0, 'b'))
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0})
	f.Add(records(rec{"b.1", "\"\xc3\""}))
	w := newWorld(f)
	g := w.guestOf(w.compile("batch.wasm"), Config{Grants: Grants{Publish: []string{"b.*"}},
		Limits: Limits{ThroughputBytesPerSec: 1 << 40, ThroughputMessagesPerSec: 1 << 40}})
	buf, out := g.alloc(64<<10), g.alloc(4)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 64<<10 {
			return
		}
		g.mod.Memory().Write(buf, b)
		before := g.in.Counters().Published
		res, err := g.mod.ExportedFunction("call_publish_batch").Call(g.ctx, uint64(buf), uint64(len(b)), uint64(out))
		if err != nil {
			t.Fatalf("publish-batch(%q) trapped: %v", b, err)
		}
		c := abi.Code(int32(res[0]))
		accepted, _ := g.mod.Memory().ReadUint32Le(out)
		whole, end := 0, 0
		for {
			next, ok := nextRecord(b, end)
			if !ok {
				break
			}
			whole, end = whole+1, next
		}
		if c < abi.OK || c > abi.NotFound || accepted > uint32(whole) ||
			g.in.Counters().Published-before != uint64(accepted) || (c == abi.OK && (accepted != uint32(whole) || end != len(b))) {
			t.Fatalf("publish-batch(%q) = %v, accepted %d of %d whole records, published %d",
				b, c, accepted, whole, g.in.Counters().Published-before)
		}
	})
}
