package bus

import (
	"testing"

	"github.com/google/uuid"
)

// Two publishers of the same principal get a flow each: the flooder's burst evicts only its
// own oldest messages, and the victim's message is served in a batch of its own.
func TestMailboxFlowPerPublisher(t *testing.T) {
	flooder, victim := uuid.New(), uuid.New()
	p := Verified("default")
	m := newMailbox(MailboxLimits{PerPrincipal: 16})
	push := func(seq uint64, src uuid.UUID) {
		msg := msgOf(seq, p, 8)
		msg.Source = src
		m.Push(msg)
	}
	push(1, victim)
	for seq := uint64(2); seq < 1002; seq++ {
		push(seq, flooder)
	}
	st := m.Stats()
	if st.Queued != 17 || st.Evicted != 1000-16 || st.Principals != 2 {
		t.Fatalf("stats %+v, want the victim's message and the flooder's last 16", st)
	}
	var victimSeen bool
	for batches := 0; m.Len() > 0; batches++ {
		b := m.Drain(nil, 1<<20, takeAll)
		for _, msg := range b.Messages {
			if msg.Source != b.Messages[0].Source {
				t.Fatalf("batch %d mixes publishers", batches)
			}
		}
		if b.Messages[0].Source == victim {
			if len(b.Messages) != 1 || b.Messages[0].Seq != 1 || batches > 1 {
				t.Fatalf("victim batch %d: %v", batches, seqs(b.Messages))
			}
			victimSeen = true
		}
	}
	if !victimSeen {
		t.Fatal("the victim's message was lost")
	}
	// The same publisher with another principal is another flow too (one principal per batch).
	a, b := msgOf(1, Verified("a"), 8), msgOf(2, Claimed("a"), 8)
	a.Source, b.Source = victim, victim
	m.Push(a)
	m.Push(b)
	if got := m.Drain(nil, 1<<20, takeAll); len(got.Messages) != 1 {
		t.Fatalf("one batch held %d principals", len(got.Messages))
	}
}
