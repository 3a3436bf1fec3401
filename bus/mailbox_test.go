package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func msgOf(seq uint64, p Principal, payloadBytes int) *Message {
	payload := `"` + strings.Repeat("x", max(payloadBytes-2, 0)) + `"`
	return &Message{Seq: seq, Topic: "t", Payload: []byte(payload), Principal: p}
}

func takeAll(*Message) bool { return true }

func seqs(ms []*Message) []uint64 {
	out := make([]uint64, len(ms))
	for i, m := range ms {
		out[i] = m.Seq
	}
	return out
}

func TestMailboxEvictionAndCounting(t *testing.T) {
	alice, bob := Verified("alice"), Verified("bob")
	tests := []struct {
		name        string
		limits      MailboxLimits
		push        []*Message
		wantSeqs    []uint64 // everything drained, in drain order, across batches
		wantEvicted uint64
		wantOver    uint64
	}{
		{
			name:     "fits",
			limits:   MailboxLimits{Bytes: 100, PerPrincipal: 10},
			push:     []*Message{msgOf(1, alice, 10), msgOf(2, alice, 10)},
			wantSeqs: []uint64{1, 2},
		},
		{
			name:        "byte budget evicts the oldest across principals",
			limits:      MailboxLimits{Bytes: 33, PerPrincipal: 10}, // each message is 11 bytes
			push:        []*Message{msgOf(1, bob, 10), msgOf(2, alice, 10), msgOf(3, alice, 10), msgOf(4, bob, 10)},
			wantSeqs:    []uint64{2, 3, 4}, // bob's 1 evicted; bob's new bucket joins the rotation last
			wantEvicted: 1,
		},
		{
			name:        "per-principal cap evicts that principal's oldest",
			limits:      MailboxLimits{Bytes: 1000, PerPrincipal: 2},
			push:        []*Message{msgOf(1, alice, 10), msgOf(2, bob, 10), msgOf(3, alice, 10), msgOf(4, alice, 10)},
			wantSeqs:    []uint64{3, 4, 2},
			wantEvicted: 1,
		},
		{
			name:     "oversize is rejected and counted",
			limits:   MailboxLimits{Bytes: 20, PerPrincipal: 10},
			push:     []*Message{msgOf(1, alice, 10), msgOf(2, alice, 50), msgOf(3, alice, 5)},
			wantSeqs: []uint64{1, 3},
			wantOver: 1,
		},
		{
			name:        "cap of one keeps only the newest",
			limits:      MailboxLimits{Bytes: 1000, PerPrincipal: 1},
			push:        []*Message{msgOf(1, alice, 10), msgOf(2, alice, 10), msgOf(3, alice, 10)},
			wantSeqs:    []uint64{3},
			wantEvicted: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMailbox(tt.limits)
			for _, msg := range tt.push {
				m.Push(msg)
			}
			var got []uint64
			var dropped uint64
			for m.Len() > 0 {
				b := m.Drain(nil, 1<<20, takeAll)
				got = append(got, seqs(b.Messages)...)
				dropped += b.Dropped
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantSeqs) {
				t.Errorf("drained %v, want %v", got, tt.wantSeqs)
			}
			s := m.Stats()
			if s.Evicted != tt.wantEvicted || s.Oversize != tt.wantOver {
				t.Errorf("evicted %d oversize %d, want %d %d", s.Evicted, s.Oversize, tt.wantEvicted, tt.wantOver)
			}
			if dropped != s.Dropped() {
				t.Errorf("batches reported %d dropped, stats say %d", dropped, s.Dropped())
			}
			if s.Offered != s.Delivered+s.Dropped()+uint64(s.Queued) {
				t.Errorf("stats do not reconcile: %+v", s)
			}
		})
	}
}

func TestMailboxDrainOnePrincipalPerBatchRoundRobin(t *testing.T) {
	m := newMailbox(MailboxLimits{})
	a, b, c := Verified("a"), Claimed("b"), System()
	seq := uint64(0)
	push := func(p Principal, n int) {
		for range n {
			seq++
			m.Push(msgOf(seq, p, 10))
		}
	}
	push(a, 100) // chatty a first
	push(b, 2)
	push(c, 1)
	var order []string
	for m.Len() > 0 {
		batch := m.Drain(nil, 1<<20, takeAll)
		p := batch.Messages[0].Principal
		for _, msg := range batch.Messages {
			if msg.Principal != p {
				t.Fatalf("batch mixes %v and %v", p, msg.Principal)
			}
		}
		order = append(order, fmt.Sprintf("%v×%d", p, len(batch.Messages)))
	}
	want := "[verified(a)×100 claimed(b)×2 system×1]"
	if fmt.Sprint(order) != want {
		t.Fatalf("batches %v, want %s", order, want)
	}
}

func TestMailboxFairnessUnderSmallBudget(t *testing.T) {
	// A budget of 3 messages per drain: the chatty principal must not get two batches in a
	// row while the quiet one waits.
	m := newMailbox(MailboxLimits{})
	chatty, quiet := Verified("chatty"), Verified("quiet")
	for i := range 30 {
		m.Push(msgOf(uint64(i+1), chatty, 10))
	}
	m.Push(msgOf(100, quiet, 10))
	m.Push(msgOf(101, quiet, 10))
	first := m.Drain(nil, 33, takeAll)
	second := m.Drain(nil, 33, takeAll)
	if first.Messages[0].Principal != chatty || second.Messages[0].Principal != quiet {
		t.Fatalf("first batch %v, second %v: quiet principal starved", first.Messages[0].Principal, second.Messages[0].Principal)
	}
	if len(first.Messages) != 3 || len(second.Messages) != 2 {
		t.Fatalf("batch sizes %d, %d, want 3, 2", len(first.Messages), len(second.Messages))
	}
}

func TestMailboxRefusedConsumesNothing(t *testing.T) {
	m := newMailbox(MailboxLimits{Bytes: 30, PerPrincipal: 10})
	m.Push(msgOf(1, System(), 10))
	m.Push(msgOf(2, System(), 10))
	m.Push(msgOf(3, System(), 10)) // evicts 1
	b := m.Drain(nil, 1<<20, func(*Message) bool { return false })
	if b.Refused == nil || b.Refused.Seq != 2 || len(b.Messages) != 0 || b.Dropped != 1 {
		t.Fatalf("refused drain = %+v", b)
	}
	// Take one only: the second stays queued.
	n := 0
	b = m.Drain(nil, 1<<20, func(*Message) bool { n++; return n == 1 })
	if fmt.Sprint(seqs(b.Messages)) != "[2]" || b.Dropped != 1 {
		t.Fatalf("partial drain = %v dropped %d", seqs(b.Messages), b.Dropped)
	}
	b = m.Drain(nil, 1<<20, takeAll)
	if fmt.Sprint(seqs(b.Messages)) != "[3]" || b.Dropped != 0 {
		t.Fatalf("final drain = %v dropped %d", seqs(b.Messages), b.Dropped)
	}
}

func TestMailboxMessageLargerThanDrainBudgetIsNotStuck(t *testing.T) {
	m := newMailbox(MailboxLimits{Bytes: 1 << 20})
	m.Push(msgOf(1, Verified("a"), 5000))
	m.Push(msgOf(2, Verified("b"), 10))
	var got []uint64
	for i := 0; m.Len() > 0 && i < 10; i++ {
		got = append(got, seqs(m.Drain(nil, 100, takeAll).Messages)...)
	}
	// DRR: a's deficit needs two turns to cover 5002 bytes, so b's small message goes first.
	if fmt.Sprint(got) != "[2 1]" {
		t.Fatalf("drained %v, want [2 1]", got)
	}
}

// waitResult is what a Wait in another goroutine returned.
type waitResult struct {
	ok  bool
	err error
}

// waitIn runs m.Wait on a goroutine and returns its result channel.
func waitIn(ctx context.Context, m *Mailbox, timeout time.Duration) <-chan waitResult {
	out := make(chan waitResult, 1)
	go func() {
		ok, err := m.Wait(ctx, timeout)
		out <- waitResult{ok, err}
	}()
	return out
}

// The Wait tests run in a synctest bubble: synctest.Wait returns once the waiter is durably
// blocked in Wait, so the event under test (cancel, push, close) comes while it waits, and
// the timeouts run on the bubble's fake clock.
func TestMailboxWait(t *testing.T) {
	t.Run("returns at once when cancelled", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := newMailbox(MailboxLimits{})
			ctx, cancel := context.WithCancel(context.Background())
			res := waitIn(ctx, m, time.Minute)
			synctest.Wait()
			start := time.Now()
			cancel()
			r := <-res
			if r.ok || !errors.Is(r.err, context.Canceled) {
				t.Fatalf("Wait = %v, %v", r.ok, r.err)
			}
			if d := time.Since(start); d != 0 {
				t.Fatalf("Wait returned %v (fake time) after cancel", d)
			}
		})
	})
	t.Run("times out", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			ok, err := newMailbox(MailboxLimits{}).Wait(context.Background(), time.Second)
			if ok || err != nil {
				t.Fatalf("Wait = %v, %v", ok, err)
			}
			if d := time.Since(start); d != time.Second {
				t.Fatalf("Wait timed out after %v, want 1s", d)
			}
		})
	})
	t.Run("wakes on push", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := newMailbox(MailboxLimits{})
			res := waitIn(context.Background(), m, time.Minute)
			synctest.Wait()
			m.Push(msgOf(1, System(), 2))
			if r := <-res; !r.ok || r.err != nil {
				t.Fatalf("Wait = %v, %v", r.ok, r.err)
			}
		})
	})
	t.Run("wakes on close", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := newMailbox(MailboxLimits{})
			res := waitIn(context.Background(), m, time.Minute)
			synctest.Wait()
			m.Close()
			if r := <-res; r.ok || !errors.Is(r.err, ErrClosed) {
				t.Fatalf("Wait = %v, %v", r.ok, r.err)
			}
		})
	})
	t.Run("one push wakes one of two waiters, the next the other", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := newMailbox(MailboxLimits{})
			a, b := waitIn(context.Background(), m, time.Minute), waitIn(context.Background(), m, time.Minute)
			synctest.Wait()
			m.Push(msgOf(1, System(), 2))
			var first <-chan waitResult
			select {
			case r := <-a:
				first = b
				if !r.ok {
					t.Fatalf("Wait = %v, %v", r.ok, r.err)
				}
			case r := <-b:
				first = a
				if !r.ok {
					t.Fatalf("Wait = %v, %v", r.ok, r.err)
				}
			}
			// The message is still queued (nobody drained): the wake-up is passed on.
			if r := <-first; !r.ok || r.err != nil {
				t.Fatalf("second waiter: Wait = %v, %v", r.ok, r.err)
			}
		})
	})
	t.Run("zero timeout only checks", func(t *testing.T) {
		m := newMailbox(MailboxLimits{})
		if ok, err := m.Wait(context.Background(), 0); ok || err != nil {
			t.Fatalf("Wait = %v, %v", ok, err)
		}
		m.Push(msgOf(1, System(), 2))
		if ok, err := m.Wait(context.Background(), 0); !ok || err != nil {
			t.Fatalf("Wait = %v, %v", ok, err)
		}
	})
}

func TestWaitAny(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boxes := []*Mailbox{newMailbox(MailboxLimits{}), newMailbox(MailboxLimits{}), newMailbox(MailboxLimits{})}
		type anyResult struct {
			ready []int
			err   error
		}
		res := make(chan anyResult, 1)
		go func() {
			ready, err := WaitAny(context.Background(), time.Minute, boxes)
			res <- anyResult{ready, err}
		}()
		synctest.Wait() // WaitAny is blocked on all three
		boxes[2].Push(msgOf(1, System(), 2))
		if r := <-res; r.err != nil || fmt.Sprint(r.ready) != "[2]" {
			t.Fatalf("WaitAny = %v, %v", r.ready, r.err)
		}
		boxes[0].Close()
		ready, err := WaitAny(context.Background(), time.Minute, boxes)
		if err != nil || fmt.Sprint(ready) != "[0 2]" {
			t.Fatalf("WaitAny after close = %v, %v", ready, err)
		}
		start := time.Now()
		ready, err = WaitAny(context.Background(), time.Second, boxes[1:2])
		if err != nil || ready != nil || time.Since(start) != time.Second {
			t.Fatalf("WaitAny timeout = %v, %v after %v", ready, err, time.Since(start))
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := WaitAny(ctx, time.Minute, boxes[1:2]); !errors.Is(err, context.Canceled) {
			t.Fatalf("WaitAny cancelled = %v", err)
		}
	})
}

func TestMailboxCloseDiscardsAndCounts(t *testing.T) {
	m := newMailbox(MailboxLimits{})
	for i := range 5 {
		m.Push(msgOf(uint64(i), System(), 4))
	}
	m.Close()
	m.Push(msgOf(9, System(), 4))
	s := m.Stats()
	if s.Discarded != 6 || s.Queued != 0 || s.Offered != 6 {
		t.Fatalf("stats after close = %+v", s)
	}
	if b := m.Drain(nil, 1<<20, takeAll); len(b.Messages) != 0 || b.Dropped != 5 {
		t.Fatalf("drain after close = %+v", b)
	}
}

func TestMailboxDrainDoesNotAllocate(t *testing.T) {
	m := newMailbox(MailboxLimits{})
	msg := msgOf(1, System(), 100)
	dst := make([]*Message, 0, 8)
	allocs := testing.AllocsPerRun(1000, func() {
		m.Push(msg)
		dst = m.Drain(dst, 1<<20, takeAll).Messages
	})
	if allocs != 0 {
		t.Fatalf("push+drain allocates %v times", allocs)
	}
}
