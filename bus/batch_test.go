package bus

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

// batchWorld is a bus with a fixed set of subscriptions, a tap and a recording Remote, for
// comparing a batch publish with single publishes.
type batchWorld struct {
	b      *Bus
	subs   []*Subscription
	remote *recordingRemote
	mu     sync.Mutex
	tapped []uint64
}

// batchPatterns are the subscriptions of every batchWorld, with their mailbox limits: one of
// each kind of loss (per-flow eviction, byte-budget eviction, oversize).
var batchPatterns = []struct {
	pattern string
	limits  MailboxLimits
}{
	{"a.*", MailboxLimits{PerPrincipal: 4096}},
	{"a.b", MailboxLimits{PerPrincipal: 3}},             // evicts the flow's oldest
	{"a.*", MailboxLimits{Bytes: 40, PerPrincipal: 64}}, // evicts the mailbox's oldest; oversize
	{"c", MailboxLimits{}},
	{"a.b", MailboxLimits{}}, // closed before the publishes: counts them as discarded
}

func newBatchWorld(t *testing.T, fenced uuid.UUID) *batchWorld {
	t.Helper()
	w := &batchWorld{remote: &recordingRemote{subs: map[string]int{}, fenced: fenced}}
	w.b = newBus(t, Options{Remote: w.remote})
	w.b.Tap(func(m *Message) {
		w.mu.Lock()
		w.tapped = append(w.tapped, m.Seq)
		w.mu.Unlock()
	})
	for i, p := range batchPatterns {
		s, err := w.b.Subscribe(t.Context(), p.pattern, SubscribeOptions{Mailbox: p.limits})
		if err != nil {
			t.Fatal(err)
		}
		if i == len(batchPatterns)-1 {
			s.mailbox.Close() // as if its owner dropped it while the router still lists it
		}
		w.subs = append(w.subs, s)
	}
	return w
}

// state renders everything a subscriber, a tap, the cluster hook and the counters can observe,
// except the messages' time.
func (w *batchWorld) state() string {
	var sb strings.Builder
	for i, s := range w.subs {
		st := s.mailbox.Stats()
		fmt.Fprintf(&sb, "sub %d %+v:", i, st)
		for {
			batch := s.mailbox.Drain(nil, 1<<20, takeAll)
			if len(batch.Messages) == 0 {
				break
			}
			for _, m := range batch.Messages {
				fmt.Fprintf(&sb, " %d/%s/%s/%v/%s", m.Seq, m.Topic, m.Payload, m.Principal, m.Source)
			}
		}
		sb.WriteString("\n")
	}
	w.mu.Lock()
	fmt.Fprintf(&sb, "taps %v\n", w.tapped)
	w.mu.Unlock()
	w.remote.mu.Lock()
	for _, m := range w.remote.forwarded {
		fmt.Fprintf(&sb, "fwd %d/%s/%s ", m.Seq, m.Topic, m.Payload)
	}
	w.remote.mu.Unlock()
	fmt.Fprintf(&sb, "\nstats %+v", w.b.Stats())
	return sb.String()
}

// TestPublishBatchEqualsSinglePublishes publishes each case's records once with PublishBatch and
// once with PublishAt record by record, stopping at the first error, on two identical buses:
// the results, deliveries, losses, order, taps, forwards and counters must be the same.
func TestPublishBatchEqualsSinglePublishes(t *testing.T) {
	src, other := uuid.New(), uuid.New()
	big := `"` + strings.Repeat("x", 60) + `"` // larger than the 40-byte mailbox
	many := func(n int, topics ...string) []Record {
		var rs []Record
		for i := range n {
			rs = append(rs, Record{topics[i%len(topics)], fmt.Appendf(nil, "%d", i)})
		}
		return rs
	}
	tests := []struct {
		name    string
		recs    []Record
		fenced  uuid.UUID
		wantN   int
		wantErr error
	}{
		{"empty", nil, uuid.Nil, 0, nil},
		{"one", []Record{{"a.b", []byte(`1`)}}, uuid.Nil, 1, nil},
		{"mixed topics and unrouted", []Record{{"a.b", []byte(`1`)}, {"a.b", []byte(`2`)}, {"c", []byte(`3`)},
			{"x.y", []byte(`4`)}, {"a.c", []byte(`5`)}, {"a.b", []byte(big)}, {"a.b", []byte(`7`)}}, uuid.Nil, 7, nil},
		{"evictions across runs", many(200, "a.b", "a.b", "a.b", "c", "a.x"), uuid.Nil, 200, nil},
		{"long run on one topic", many(300, "a.b"), uuid.Nil, 300, nil},
		{"bad JSON stops", []Record{{"a.b", []byte(`1`)}, {"c", []byte(`2`)}, {"a.b", []byte(`{`)}, {"a.b", []byte(`4`)}}, uuid.Nil, 2, ErrInvalidPayload},
		{"empty payload stops", []Record{{"a.b", []byte(`1`)}, {"a.b", nil}}, uuid.Nil, 1, ErrInvalidPayload},
		{"bad topic stops", []Record{{"a.b", []byte(`1`)}, {"a..b", []byte(`2`)}}, uuid.Nil, 1, ErrInvalidTopic},
		{"too large stops", []Record{{"a.b", []byte(`1`)}, {"a.b", []byte(`"` + strings.Repeat("y", 2<<20) + `"`)}}, uuid.Nil, 1, ErrPayloadTooLarge},
		{"first record bad", []Record{{"", []byte(`1`)}, {"a.b", []byte(`2`)}}, uuid.Nil, 0, ErrInvalidTopic},
		{"fenced", []Record{{"a.b", []byte(`1`)}, {"a.b", []byte(`2`)}}, src, 0, ErrFenced},
		{"fenced, first record bad", []Record{{"a.b", []byte(`{`)}}, src, 0, ErrInvalidPayload},
		{"another source fenced", []Record{{"a.b", []byte(`1`)}}, other, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := time.Unix(1e9, 0)
			p := Verified("alice")
			single, batch := newBatchWorld(t, tt.fenced), newBatchWorld(t, tt.fenced)

			pub := single.b.NewPublisher()
			n, err := 0, error(nil)
			for _, r := range tt.recs {
				if _, err = pub.PublishAt(r.Topic, r.Payload, src, p, at); err != nil {
					break
				}
				n++
			}
			bn, berr := batch.b.NewPublisher().PublishBatch(tt.recs, src, p, at)

			if n != tt.wantN || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("single publishes: %d, %v; the case expects %d, %v", n, err, tt.wantN, tt.wantErr)
			}
			if bn != n || !errors.Is(berr, tt.wantErr) || (berr == nil) != (err == nil) {
				t.Fatalf("PublishBatch = %d, %v; single publishes %d, %v", bn, berr, n, err)
			}
			if s, b := single.state(), batch.state(); s != b {
				t.Fatalf("batch differs from single publishes:\n--- single\n%s\n--- batch\n%s", s, b)
			}
		})
	}
}

// TestPublishBatchHammer runs batch publishers, single publishers, consumers and subscription
// churn concurrently on one bus whose subscriptions share a ledger; the ledger must balance at
// every moment and, at the end, hold exactly the offers the bus counted.
func TestPublishBatchHammer(t *testing.T) {
	b := newBus(t, Options{})
	l := NewLedger()
	ctx := t.Context()
	const publishers, batches = 4, 150
	stop := make(chan struct{})
	var wg, consumers sync.WaitGroup
	var checks atomic.Int64
	consumers.Add(1)
	go func() { // the invariant, checked over and over
		defer consumers.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if s := l.Stats(); s.Unaccounted() != 0 {
				t.Errorf("ledger unbalanced: %+v", s)
				return
			}
			checks.Add(1)
		}
	}()
	subscribe := func(pattern string, limits MailboxLimits) *Subscription {
		s, err := b.Subscribe(ctx, pattern, SubscribeOptions{Mailbox: limits, Ledger: l})
		if err != nil {
			t.Error(err)
			return nil
		}
		return s
	}
	var fixed []*Subscription
	for _, p := range []string{"h.*", "h.a", "h.b", "h.*"} {
		if s := subscribe(p, MailboxLimits{Bytes: 2 << 10, PerPrincipal: 32}); s != nil {
			fixed = append(fixed, s)
		}
	}
	for _, s := range fixed {
		consumers.Add(1)
		go func() {
			defer consumers.Done()
			for {
				if _, err := s.mailbox.Wait(ctx, time.Second); err != nil {
					return // closed at the end
				}
				s.mailbox.Drain(nil, 1<<10, takeAll)
			}
		}()
	}
	consumers.Add(1)
	go func() { // churn: subscriptions come and go while messages flow
		defer consumers.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if s := subscribe([]string{"h.a", "h.*", "h.c"}[i%3], MailboxLimits{PerPrincipal: 8}); s != nil {
				s.mailbox.Drain(nil, 512, takeAll)
				_ = s.Close(ctx)
			}
		}
	}()
	var seqMu sync.Mutex
	lastSeq := map[uuid.UUID]uint64{}
	b.Tap(func(m *Message) { // publish order per publisher: strictly increasing seq
		seqMu.Lock()
		defer seqMu.Unlock()
		if m.Seq <= lastSeq[m.Source] {
			t.Errorf("source %s: seq %d after %d", m.Source, m.Seq, lastSeq[m.Source])
		}
		lastSeq[m.Source] = m.Seq
	})
	var published atomic.Uint64
	for i := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pub, src := b.NewPublisher(), uuid.New()
			p := Verified(fmt.Sprintf("p%d", i%2))
			recs := make([]Record, 0, 100)
			for j := range batches {
				recs = recs[:0]
				for k := range 1 + (i*7+j)%100 {
					recs = append(recs, Record{[]string{"h.a", "h.a", "h.b", "h.c", "x"}[(j+k/5)%5], fmt.Appendf(nil, `{"i":%d}`, k)})
				}
				if i == 0 { // one publisher publishes singly, to mix both paths
					for _, r := range recs {
						if _, err := pub.PublishAt(r.Topic, r.Payload, src, p, b.Now()); err != nil {
							t.Error(err)
							return
						}
						published.Add(1)
					}
					continue
				}
				n, err := pub.PublishBatch(recs, src, p, b.Now())
				if err != nil || n != len(recs) {
					t.Errorf("PublishBatch = %d, %v; want %d", n, err, len(recs))
					return
				}
				published.Add(uint64(n))
			}
		}()
	}
	wg.Wait()
	close(stop)
	for _, s := range fixed {
		_ = s.Close(ctx)
	}
	consumers.Wait()
	st, ls := b.Stats(), l.Stats()
	if st.Published != published.Load() || ls.Offered != st.Matched || ls.Unaccounted() != 0 || ls.Queued != 0 {
		t.Fatalf("bus %+v, published %d; ledger %+v", st, published.Load(), ls)
	}
	if ls.Delivered == 0 || ls.Evicted == 0 || ls.Discarded == 0 || checks.Load() == 0 {
		t.Fatalf("ledger %+v, %d checks: the test did not exercise deliveries, evictions and discards", ls, checks.Load())
	}
}

// BenchmarkPublishBatchDrain is BenchmarkPublishDrain with the messages published by
// Publisher.PublishBatch in batches of 64 (one op is one message), against the same loop of
// Publisher.PublishAt.
func BenchmarkPublishBatchDrain(b *testing.B) {
	for _, n := range []int{1, 100} {
		for _, mode := range []string{"batch", "single"} {
			b.Run(mode+"/"+subName(n), func(b *testing.B) {
				bus, subs := benchSubscribers(b, n)
				recs := make([]Record, 64)
				for i := range recs {
					recs[i] = Record{"bench.topic", payload128}
				}
				pub, src := bus.NewPublisher(), uuid.New()
				b.ReportAllocs()
				b.ResetTimer()
				wg := startConsumers(subs, uint64(b.N))
				for left := b.N; left > 0; {
					k := min(left, len(recs))
					if mode == "batch" {
						if _, err := pub.PublishBatch(recs[:k], src, System(), bus.Now()); err != nil {
							b.Fatal(err)
						}
					} else {
						for _, r := range recs[:k] {
							if _, err := pub.PublishAt(r.Topic, r.Payload, src, System(), bus.Now()); err != nil {
								b.Fatal(err)
							}
						}
					}
					left -= k
				}
				wg.Wait()
				b.StopTimer()
				reportRate(b, b.N*n)
			})
		}
	}
}

// TestPublishBatchPayloadCopies checks that every message of a batch holds its own copy of its
// payload, capped at its length, whatever the mix of sizes and size classes (newMessage).
func TestPublishBatchPayloadCopies(t *testing.T) {
	b := newBus(t, Options{})
	sub, err := b.Subscribe(t.Context(), "s", SubscribeOptions{Mailbox: MailboxLimits{Bytes: 64 << 20, PerPrincipal: 4096}})
	if err != nil {
		t.Fatal(err)
	}
	var recs []Record
	for i := range 150 {
		n := []int{1, 30, 200, 1000, 1024, 1025, 3000}[i%7]
		if i%11 == 0 {
			n = 4 << 10
		}
		p := fmt.Appendf(nil, `"%0*d"`, max(n-2, 1), i)
		recs = append(recs, Record{"s", p})
	}
	if n, err := b.NewPublisher().PublishBatch(recs, uuid.Nil, System(), b.Now()); n != len(recs) || err != nil {
		t.Fatalf("PublishBatch = %d, %v", n, err)
	}
	var got []*Message
	for {
		batch := sub.Mailbox().Drain(nil, 64<<20, takeAll)
		if len(batch.Messages) == 0 {
			break
		}
		got = append(got, batch.Messages...)
	}
	if len(got) != len(recs) {
		t.Fatalf("%d messages, want %d", len(got), len(recs))
	}
	for i, m := range got {
		if string(m.Payload) != string(recs[i].Payload) || cap(m.Payload) != len(m.Payload) {
			t.Fatalf("message %d: payload %.40q (cap %d), want %.40q", i, m.Payload, cap(m.Payload), recs[i].Payload)
		}
	}
}
