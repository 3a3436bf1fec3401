package bus

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestInjectBatch: a batch of remote messages on several topics (one invalid) reaches exactly
// the matching subscriptions, in order, with the origin's envelope; it is counted as injected
// and matched once per delivery and never forwarded.
func TestInjectBatch(t *testing.T) {
	rr := &recordingRemote{subs: map[string]int{}}
	b := newBus(t, Options{Remote: rr})
	ctx := t.Context()
	all, err := b.Subscribe(ctx, "x.*", SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	onlyB, err := b.Subscribe(ctx, "x.b", SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	src := uuid.New()
	var batch []*Message
	for i, topic := range []string{"x.a", "x.a", "x.b", "x..bad", "x.a", "y.z", "x.b"} {
		m := NewMessage(fmt.Appendf(nil, "%d", i))
		m.Seq, m.Time, m.Topic, m.Source, m.Principal = uint64(100+i), time.Unix(int64(i), 0), topic, src, Verified("p")
		batch = append(batch, m)
	}
	before := b.Stats()
	if n := b.InjectBatch(batch); n != 7 { // 5 valid x.* messages + 2 on x.b
		t.Fatalf("InjectBatch matched %d, want 7", n)
	}
	if n := b.InjectBatch(nil); n != 0 {
		t.Fatalf("an empty batch matched %d", n)
	}
	st := b.Stats()
	if st.Injected-before.Injected != 6 || st.Matched-before.Matched != 7 || st.Published != before.Published {
		t.Fatalf("stats before %+v after %+v", before, st)
	}
	seqs := func(s *Subscription) []uint64 {
		var out []uint64
		for _, m := range s.Mailbox().Drain(nil, 1<<20, func(*Message) bool { return true }).Messages {
			if m.Source != src || m.Principal != Verified("p") || m.Time.Unix() != int64(m.Seq-100) {
				t.Fatalf("envelope changed: %+v", m)
			}
			out = append(out, m.Seq)
		}
		return out
	}
	if got := fmt.Sprint(seqs(all)); got != "[100 101 102 104 106]" {
		t.Fatalf("x.* got %s", got)
	}
	if got := fmt.Sprint(seqs(onlyB)); got != "[102 106]" {
		t.Fatalf("x.b got %s", got)
	}
	if len(rr.forwarded) != 0 {
		t.Fatalf("injected messages were forwarded: %d", len(rr.forwarded))
	}
}

func TestNewMessageCopies(t *testing.T) {
	for _, n := range []int{0, 1, 64, 65, 1024, 1025, 5000} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i)
		}
		m := NewMessage(p)
		if len(m.Payload) != n || cap(m.Payload) != n || string(m.Payload) != string(p) {
			t.Fatalf("%d bytes: payload len %d cap %d", n, len(m.Payload), cap(m.Payload))
		}
		if n > 0 {
			p[0]++
			if m.Payload[0] == p[0] {
				t.Fatalf("%d bytes: the payload is not a copy", n)
			}
		}
	}
}

// TestInjectBatchLongRun: a frame with more messages on one topic than one run (maxRun) arrives
// whole and in order, and a mailbox too small for it evicts and counts exactly as per-message
// pushes would.
func TestInjectBatchLongRun(t *testing.T) {
	b := newBus(t, Options{})
	ctx := t.Context()
	const n = 3*maxRun + 5
	whole, err := b.Subscribe(ctx, "x.a", SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	small, err := b.Subscribe(ctx, "x.a", SubscribeOptions{Mailbox: MailboxLimits{PerPrincipal: 10}})
	if err != nil {
		t.Fatal(err)
	}
	src := uuid.New()
	batch := make([]*Message, n)
	for i := range batch {
		m := NewMessage(fmt.Appendf(nil, "%d", i))
		m.Seq, m.Topic, m.Source, m.Principal = uint64(i+1), "x.a", src, Verified("p")
		batch[i] = m
	}
	if got := b.InjectBatch(batch); got != 2*n {
		t.Fatalf("InjectBatch matched %d, want %d", got, 2*n)
	}
	msgs := whole.Poll().Messages
	if len(msgs) != n {
		t.Fatalf("got %d messages, want %d", len(msgs), n)
	}
	for i, m := range msgs {
		if m.Seq != uint64(i+1) {
			t.Fatalf("message %d has seq %d: out of order", i, m.Seq)
		}
	}
	st := small.Stats()
	kept := small.Poll().Messages
	if len(kept) != 10 || st.Evicted != n-10 || kept[0].Seq != n-9 {
		t.Fatalf("small mailbox kept %d (first seq %d), evicted %d; want 10 kept from seq %d, %d evicted", len(kept), kept[0].Seq, st.Evicted, n-9, n-10)
	}
}
