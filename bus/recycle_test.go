package bus

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/google/uuid"
)

// refsOf reads the reference count of a pooled message.
func refsOf(m *Message) int32 { return atomic.LoadInt32(&m.refs) }

// TestMessageLayout: in every size class the payload array directly follows the Message, as
// payloadArray assumes.
func TestMessageLayout(t *testing.T) {
	want := unsafe.Sizeof(Message{})
	for name, off := range map[string]uintptr{
		"64": unsafe.Offsetof(message64{}.b), "128": unsafe.Offsetof(message128{}.b),
		"256": unsafe.Offsetof(message256{}.b), "512": unsafe.Offsetof(message512{}.b),
		"1k": unsafe.Offsetof(message1k{}.b), "2k": unsafe.Offsetof(message2k{}.b),
		"4k": unsafe.Offsetof(message4k{}.b),
	} {
		if off != want {
			t.Errorf("message%s: payload at offset %d, want %d", name, off, want)
		}
	}
	// allocClass(c) has room for classBytes[c] payload bytes after the Message: filling them
	// leaves the Message intact (and under -race, checkptr rejects a slice past the allocation).
	for c, size := range classBytes {
		m := allocClass(c)
		p := payloadArray(m, size)
		for i := range p {
			p[i] = 0xAB
		}
		if m.self != nil || m.refs != 0 || m.Payload != nil || len(p) != size || cap(p) != size {
			t.Errorf("class %d (%d bytes): filling the payload array changed the message: %+v", c, size, m)
		}
	}
}

// TestMessageReferences follows the reference count through every holder: the publisher
// while it delivers, each mailbox, each consumer, and the ways a reference ends (release,
// eviction, close, a publisher that keeps the message).
func TestMessageReferences(t *testing.T) {
	ctx := context.Background()
	b := newBus(t, Options{})
	p := b.NewPublisher()
	s1, s2 := subscribe(t, b, "r.a"), subscribe(t, b, "r.*")
	small, err := b.Subscribe(ctx, "r.a", SubscribeOptions{Mailbox: MailboxLimits{PerPrincipal: 1}})
	if err != nil {
		t.Fatal(err)
	}

	// A Publisher returns no message; three mailboxes hold one reference each.
	res, err := p.Publish("r.a", []byte(`"one"`), uuid.Nil, System())
	if err != nil || res.Message != nil || res.Matched != 3 {
		t.Fatalf("Publish = %+v, %v; want Matched 3 and no Message", res, err)
	}
	m := drainAll(s1)[0]
	if n := refsOf(m); n != 3 {
		t.Fatalf("after delivery to 3 mailboxes and 1 drain: %d references, want 3", n)
	}
	// The second publish evicts the first from the one-message mailbox: its reference ends.
	if _, err := p.Publish("r.a", []byte(`"two"`), uuid.Nil, System()); err != nil {
		t.Fatal(err)
	}
	if n := refsOf(m); n != 2 {
		t.Fatalf("after eviction: %d references, want 2", n)
	}
	m.Release()
	if n := refsOf(m); n != 1 || string(m.Payload) != `"one"` {
		t.Fatalf("after one release: %d references, payload %q; want 1, intact", n, m.Payload)
	}
	// Closing a subscription gives back the references of what it still queues.
	if err := s2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := refsOf(m); n != 0 || m.Topic == "r.a" {
		t.Fatalf("after the last reference: %d references, topic %q; want 0 and recycled", n, m.Topic)
	}
	if st := s2.Stats(); st.Discarded != 2 {
		t.Fatalf("closed mailbox: %+v, want 2 discarded", st)
	}

	// Bus.Publish returns the message and pins it: releasing every delivery leaves it intact.
	kept, err := b.Publish("r.a", []byte(`"kept"`), uuid.Nil, System())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Subscription{s1, small} {
		for _, d := range drainAll(s) {
			d.Release()
		}
	}
	if n := refsOf(kept.Message); n != 1 || string(kept.Message.Payload) != `"kept"` || kept.Message.Topic != "r.a" {
		t.Fatalf("Bus.Publish's message after every release: %d references, %q on %q; want 1, intact", n, kept.Message.Payload, kept.Message.Topic)
	}

	// A rejected delivery (oversize, closed mailbox) takes no reference.
	tiny, err := b.Subscribe(ctx, "r.b", SubscribeOptions{Mailbox: MailboxLimits{Bytes: 4}})
	if err != nil {
		t.Fatal(err)
	}
	held := subscribe(t, b, "r.b")
	if _, err := p.Publish("r.b", []byte(`"too large"`), uuid.Nil, System()); err != nil {
		t.Fatal(err)
	}
	h := drainAll(held)
	if len(h) != 1 || refsOf(h[0]) != 1 || tiny.Stats().Oversize != 1 {
		t.Fatalf("oversize: held %d, references %d, stats %+v; want 1, 1, 1 oversize", len(h), refsOf(h[0]), tiny.Stats())
	}
	h[0].Release()
}

// TestReleaseDoubleAndUnpooled: a second release of the last reference panics; Release and
// Retain of messages the bus does not recycle (built by hand, copies, large payloads) do
// nothing.
func TestReleaseDoubleAndUnpooled(t *testing.T) {
	m := NewMessage([]byte(`1`))
	m.Release()
	func() {
		defer func() {
			if recover() == nil {
				t.Error("releasing a released message did not panic")
			}
		}()
		m.Release()
	}()
	big := NewMessage([]byte(`"` + strings.Repeat("x", 5000) + `"`))
	copied := *NewMessage([]byte(`2`))
	for name, m := range map[string]*Message{"literal": {Topic: "a", Payload: []byte(`1`)}, "large": big, "copy": &copied} {
		for range 3 {
			m.Retain()
			m.Release()
			m.Release()
		}
		if m.pooled() || refsOf(m) != 0 && name != "copy" {
			t.Errorf("%s: pooled %v, references %d", name, m.pooled(), refsOf(m))
		}
	}
	if string(copied.Payload) != `2` {
		t.Errorf("copy: payload %q changed", copied.Payload)
	}
}

// TestRecycledPayloadHasNoOldBytes: a message reused for a shorter payload of its size class
// holds exactly the new payload, capped at its length.
func TestRecycledPayloadHasNoOldBytes(t *testing.T) {
	for _, sizes := range [][2]int{{60, 3}, {1000, 600}, {4000, 2100}, {128, 65}} {
		long := []byte(`"` + strings.Repeat("L", sizes[0]-2) + `"`)
		short := []byte(`"` + strings.Repeat("s", sizes[1]-2) + `"`)
		for range 20 { // the pool may drop items; reuse happens in most rounds
			NewMessage(long).Release()
			m := NewMessage(short)
			if !bytes.Equal(m.Payload, short) || cap(m.Payload) != len(short) {
				t.Fatalf("%v: payload %q (cap %d), want %q capped", sizes, m.Payload, cap(m.Payload), short)
			}
			m.Release()
		}
	}
}

// hammerPayload is publisher p's i-th payload: a JSON string whose length cycles through
// every size class (and beyond), its content determined by (p, i).
func hammerPayload(p, i int) []byte {
	sizes := [...]int{10, 64, 100, 200, 500, 1000, 1024, 2000, 4096, 5000}
	n := sizes[(i+p)%len(sizes)]
	head := fmt.Sprintf(`"%d-%d-`, p, i)
	body := make([]byte, 0, n)
	body = append(body, head...)
	for j := 0; len(body) < n-1; j++ {
		body = append(body, 'a'+byte((p*7+i*3+j)%26))
	}
	return append(body, '"')
}

// checkHammer verifies m byte for byte against the payload its header names.
func checkHammer(m *Message) error {
	f := strings.SplitN(strings.TrimPrefix(string(m.Payload), `"`), "-", 3)
	if len(f) < 3 {
		return fmt.Errorf("message %d on %q: malformed payload %.40q", m.Seq, m.Topic, m.Payload)
	}
	p, err1 := strconv.Atoi(f[0])
	i, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return fmt.Errorf("message %d on %q: malformed payload %.40q", m.Seq, m.Topic, m.Payload)
	}
	if want := hammerPayload(p, i); !bytes.Equal(m.Payload, want) {
		return fmt.Errorf("message %d: payload %.60q, want %.60q", m.Seq, m.Payload, want)
	}
	if want := "h." + strconv.Itoa(p%2); m.Topic != want {
		return fmt.Errorf("message %d: topic %q, want %q", m.Seq, m.Topic, want)
	}
	return nil
}

// TestRecycleHammer publishes from several publishers (single publishes through a Publisher
// and through the Bus, batches) to a mix of consumers at once: releasing consumers with large
// and with evicting mailboxes, a consumer that keeps every message and never releases, a tap
// that keeps a sample (Retain) and one that only looks. Every payload received is checked
// byte for byte — when it is received, and the kept ones again at the end — and for every
// subscription delivered + dropped == published. Run it with -race: released messages are then
// poisoned, and reuse while a holder still reads is a data race.
func TestRecycleHammer(t *testing.T) {
	const publishers, perPublisher = 4, 1500
	ctx := context.Background()
	b := newBus(t, Options{})
	type consumer struct {
		s       *Subscription
		release bool
		kept    []*Message
		got     int
		dropped uint64
		err     error
	}
	var cons []*consumer
	add := func(limits MailboxLimits, release bool) {
		s, err := b.Subscribe(ctx, "h.*", SubscribeOptions{Mailbox: limits})
		if err != nil {
			t.Fatal(err)
		}
		cons = append(cons, &consumer{s: s, release: release})
	}
	add(MailboxLimits{Bytes: 64 << 20, PerPrincipal: 1 << 20}, true)
	add(MailboxLimits{Bytes: 64 << 20, PerPrincipal: 1 << 20}, true)
	add(MailboxLimits{Bytes: 64 << 20, PerPrincipal: 1 << 20}, false) // keeps everything
	add(MailboxLimits{Bytes: 8 << 10, PerPrincipal: 4}, true)         // evicts a lot
	add(MailboxLimits{Bytes: 64 << 10, PerPrincipal: 16}, false)      // evicts, keeps the rest

	var tapMu sync.Mutex
	var sample []*Message
	var tapErr atomic.Value
	b.Tap(func(m *Message) {
		if err := checkHammer(m); err != nil {
			tapErr.CompareAndSwap(nil, err)
		}
		if m.Seq%97 == 0 {
			m.Retain()
			tapMu.Lock()
			sample = append(sample, m)
			tapMu.Unlock()
		}
	})

	var published atomic.Int64
	done := make(chan struct{})
	var cwg sync.WaitGroup
	for _, c := range cons {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			dst := make([]*Message, 0, 256)
			for {
				batch := c.s.Mailbox().Drain(dst[:0], 64<<10, takeAll)
				c.dropped += batch.Dropped
				for _, m := range batch.Messages {
					if err := checkHammer(m); err != nil && c.err == nil {
						c.err = err
					}
					c.got++
					if c.release {
						m.Release()
					} else {
						c.kept = append(c.kept, m)
					}
				}
				clear(batch.Messages)
				dst = batch.Messages
				if len(dst) > 0 {
					continue
				}
				select {
				case <-done:
					if c.s.Mailbox().Len() == 0 {
						return
					}
				default:
					_, _ = c.s.Mailbox().Wait(ctx, 10*time.Millisecond)
				}
			}
		}()
	}

	var pwg sync.WaitGroup
	errs := make(chan error, publishers)
	for p := range publishers {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			topic, src := "h."+strconv.Itoa(p%2), uuid.New()
			pub := b.NewPublisher()
			for i := 0; i < perPublisher; {
				var err error
				switch i % 3 {
				case 0:
					_, err = pub.Publish(topic, hammerPayload(p, i), src, System())
					i++
				case 1:
					_, err = b.Publish(topic, hammerPayload(p, i), src, System())
					i++
				default:
					recs := make([]Record, 0, 5)
					for k := 0; k < 5 && i+k < perPublisher; k++ {
						recs = append(recs, Record{Topic: topic, Payload: hammerPayload(p, i+k)})
					}
					var n int
					n, err = pub.PublishBatch(recs, src, System(), b.Now())
					i += n
				}
				if err != nil {
					errs <- err
					return
				}
			}
			published.Add(perPublisher)
		}()
	}
	pwg.Wait()
	close(done)
	cwg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err, _ := tapErr.Load().(error); err != nil {
		t.Errorf("tap: %v", err)
	}
	for i, c := range cons {
		if c.err != nil {
			t.Errorf("consumer %d: %v", i, c.err)
		}
		st := c.s.Stats()
		if int64(c.got)+int64(st.Dropped()) != published.Load() || c.dropped != st.Dropped() || st.Unaccounted() != 0 {
			t.Errorf("consumer %d: %d delivered + %d dropped (reported %d) != %d published; %+v", i, c.got, st.Dropped(), c.dropped, published.Load(), st)
		}
		for _, m := range c.kept {
			if err := checkHammer(m); err != nil {
				t.Fatalf("consumer %d, a kept message changed: %v", i, err)
			}
		}
	}
	if cons[3].s.Stats().Evicted == 0 {
		t.Error("the small mailbox evicted nothing: the test does not exercise eviction")
	}
	for _, m := range sample {
		if err := checkHammer(m); err != nil {
			t.Fatalf("a message the tap retained changed: %v", err)
		}
	}
	if len(sample) == 0 {
		t.Error("the tap retained nothing")
	}
}

// TestWideFanoutIsNotRecycled: a message for more than maxRecycledFanout mailboxes, single or
// batched, is left to the GC — no reference is counted, releases do nothing, it stays intact.
func TestWideFanoutIsNotRecycled(t *testing.T) {
	b := newBus(t, Options{})
	subs := make([]*Subscription, maxRecycledFanout+1)
	for i := range subs {
		subs[i] = subscribe(t, b, "w.*")
	}
	p := b.NewPublisher()
	if _, err := p.Publish("w.a", []byte(`"single"`), uuid.Nil, System()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.PublishBatch([]Record{{Topic: "w.b", Payload: []byte(`"batch"`)}}, uuid.Nil, System(), b.Now()); err != nil {
		t.Fatal(err)
	}
	var got []*Message
	for _, s := range subs {
		ms := drainAll(s)
		if len(ms) != 2 {
			t.Fatalf("drained %d messages, want 2", len(ms))
		}
		got = append(got, ms...)
		for _, m := range ms {
			if m.pooled() {
				t.Fatalf("a message for %d mailboxes is recycled", len(subs))
			}
			m.Release()
		}
	}
	for _, m := range got {
		if s := string(m.Payload); s != `"single"` && s != `"batch"` {
			t.Fatalf("a released wide fan-out message changed: %q", s)
		}
	}
	// At the limit: recycled.
	narrow := make([]*Subscription, maxRecycledFanout)
	for i := range narrow {
		narrow[i] = subscribe(t, b, "n.*")
	}
	if _, err := p.Publish("n.a", []byte(`"narrow"`), uuid.Nil, System()); err != nil {
		t.Fatal(err)
	}
	m := drainAll(narrow[0])[0]
	if !m.pooled() || refsOf(m) != int32(maxRecycledFanout) {
		t.Fatalf("a message for %d mailboxes: pooled %v, %d references; want pooled, %d", maxRecycledFanout, m.pooled(), refsOf(m), maxRecycledFanout)
	}
	m.Release()
}
