package bus

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/uuid"
)

// BenchmarkMailboxPushEvictFlows pushes into a full mailbox whose queued messages come from n
// flows (principal, publishing instance), so every push evicts the oldest message: issue 15
// item 4 wants push and eviction O(1) in n. Compare ns/op at n = 10 and n = 10 000 in the same
// run (a linear scan of the flows made it grow with n).
func BenchmarkMailboxPushEvictFlows(b *testing.B) {
	for _, n := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("flows=%d", n), func(b *testing.B) {
			msgs := make([]*Message, n)
			for i := range msgs {
				msgs[i] = &Message{Topic: "t", Payload: payload128, Principal: Verified(fmt.Sprintf("p%d", i)), Source: uuid.New()}
			}
			size := msgs[0].Size()
			// Room for 2 messages per flow; filling it takes 2n pushes, then every push evicts.
			m := newMailbox(MailboxLimits{Bytes: 2 * n * size, PerPrincipal: 1 << 20})
			for i := range 2 * n {
				m.Push(msgs[i%n])
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				m.Push(msgs[i%n])
				i++
			}
			if m.Stats().Evicted == 0 {
				b.Fatal("nothing evicted")
			}
		})
	}
}

// TestMailboxEvictsOldestAcrossManyFlows pushes from 300 flows into a mailbox with room for
// 40 messages, draining now and then, against a model that evicts the message with the lowest
// sequence number: every drained message must be one the model still holds, and the counts
// must agree.
func TestMailboxEvictsOldestAcrossManyFlows(t *testing.T) {
	srcs := make([]uuid.UUID, 300)
	for i := range srcs {
		srcs[i] = uuid.New()
	}
	proto := &Message{Topic: "t", Payload: []byte(`1`)}
	size := proto.Size()
	m := newMailbox(MailboxLimits{Bytes: 40 * size, PerPrincipal: 1 << 20})
	model := map[uint64]bool{} // queued seqs
	evicted := 0
	rng := rand.New(rand.NewPCG(9, 10))
	for seq := uint64(1); seq <= 20_000; seq++ {
		msg := &Message{Seq: seq, Topic: "t", Payload: proto.Payload, Principal: System(), Source: srcs[rng.IntN(len(srcs))]}
		if len(model) == 40 {
			oldest := uint64(1 << 63)
			for s := range model {
				oldest = min(oldest, s)
			}
			delete(model, oldest)
			evicted++
		}
		model[seq] = true
		m.Push(msg)
		if rng.IntN(7) == 0 {
			for _, got := range m.Drain(nil, 1+rng.IntN(8)*size, takeAll).Messages {
				if !model[got.Seq] {
					t.Fatalf("drained seq %d, which the model evicted or delivered", got.Seq)
				}
				delete(model, got.Seq)
			}
		}
		if st := m.Stats(); st.Evicted != uint64(evicted) || st.Queued != len(model) {
			t.Fatalf("seq %d: evicted %d queued %d, model %d and %d", seq, st.Evicted, st.Queued, evicted, len(model))
		}
	}
}
