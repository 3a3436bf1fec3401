package bus

import (
	"time"

	"github.com/google/uuid"

	"github.com/astrid-actors/astrid-actors/topics"
)

// Record is one message of a batch publish: a topic and a payload the caller keeps ownership of
// (it may be a view of guest memory; the bus copies it).
type Record struct {
	Topic   string
	Payload []byte
}

// maxRun is the most messages delivered to the mailboxes as one run (one match, one lock and
// one wake-up per mailbox), so that the run's message pointers fit a buffer on the stack.
const maxRun = 64

// PublishBatch publishes recs in order, all from source on behalf of principal and stamped at
// (a reading of Bus.Now the caller took for the batch). It is equivalent to calling PublishAt
// for each record until the first one that fails, and returns how many were published and, if
// that is less than len(recs), the error of the first record not published: the same checks
// (closed bus, topic, payload size and JSON, then the cluster's Remote.Admit once for the
// batch), the same counters, and every message offered to every matching subscription, counted
// there once, in publish order per mailbox, then run through the taps and Remote.Forward in
// order.
//
// What it pays once rather than per message: the clock read (at), Remote.Admit, and for each run
// of consecutive records on one topic (up to 64) the match and, per matching mailbox, one lock
// acquisition and at most one wake-up (Mailbox.PushBatch). A subscription added or removed
// while a run is delivered sees the run as if it had been published entirely before or after
// the change (the run is matched once), as concurrent single publishes may.
func (p *Publisher) PublishBatch(recs []Record, source uuid.UUID, principal Principal, at time.Time) (int, error) {
	b, c := p.b, &p.cache
	// Check every record first, up to the first failure: what follows it is not published.
	n := len(recs)
	var failed error
	for i := range recs {
		if err := b.check(c, recs[i].Topic, recs[i].Payload); err != nil {
			n, failed = i, err
			break
		}
	}
	if n == 0 {
		return 0, failed
	}
	if r := b.opts.Remote; r != nil && !r.Admit(source) {
		return 0, ErrFenced
	}
	var buf [maxRun]*Message
	for start := 0; start < n; {
		topic := recs[start].Topic
		end := start + 1
		for end < n && end-start < maxRun && recs[end].Topic == topic {
			end++
		}
		run := buf[:end-start]
		newMessages(run, recs[start:end])
		// One reservation of sequence numbers for the run: consecutive, in publish order.
		seq := b.seq.Add(uint64(len(run))) - uint64(len(run))
		for i, m := range run {
			m.Seq = seq + uint64(i) + 1
			m.Time = at
			m.Topic = topic
			m.Source = source
			m.Principal = principal
		}
		b.deliverRun(c, topic, run)
		for _, m := range run {
			b.runTaps(m)
			if r := b.opts.Remote; r != nil {
				r.Forward(m)
			}
		}
		clear(run)
		start = end
	}
	return n, failed
}

// deliverRun pushes every message of run, all on topic, into every matching mailbox found
// through the match cache c, with one Mailbox.PushBatch per mailbox, and counts them as
// published.
func (b *Bus) deliverRun(c *l1, topic string, run []*Message) {
	b.stats.published.Add(uint64(len(run)))
	subs := deliverGroupsBatch(c.lookup(b, topic), run)
	if subs == 0 {
		b.stats.unrouted.Add(uint64(len(run)))
	} else {
		b.stats.matched.Add(uint64(subs * len(run)))
	}
}

// deliverGroupsBatch pushes run into every live subscription of groups and returns how many.
func deliverGroupsBatch(groups []topics.Group[*Subscription], run []*Message) int {
	n := 0
	for _, g := range groups {
		for i := range g.Len() {
			if s, ok := g.At(i); ok {
				s.mailbox.PushBatch(run)
				n++
			}
		}
	}
	return n
}

// Slabs: the messages of a run with small payloads are allocated together, one array of
// Messages and one of payload bytes per slab, instead of one allocation per message. A message
// keeps its whole slab alive, so a slab is kept small (slabMessages messages, slabBytes of
// payload) and holds messages of one run only: they are queued in the same mailboxes, where each
// flow's queue is a FIFO, so a mailbox holds at most the two partial slabs at the ends of each
// flow's queue beyond what its budget counts (RATIONALE.md, "the batch path in the bus").
const (
	slabMessages = 16
	slabBytes    = 4 << 10
	slabMaxOne   = 1 << 10 // larger payloads get a message of their own (newMessage)
)

// newMessages sets run[i] to a new message holding a copy of recs[i].Payload.
func newMessages(run []*Message, recs []Record) {
	for i := 0; i < len(run); {
		if len(recs[i].Payload) > slabMaxOne {
			run[i] = newMessage(recs[i].Payload)
			i++
			continue
		}
		// The slab: the records from i on that are small and fit its limits.
		j, bytes := i, 0
		for j < len(run) && j-i < slabMessages {
			n := len(recs[j].Payload)
			if n > slabMaxOne || bytes+n > slabBytes {
				break
			}
			bytes += n
			j++
		}
		ms := make([]Message, j-i)
		payloads := make([]byte, bytes)
		off := 0
		for k := range ms {
			n := copy(payloads[off:], recs[i+k].Payload)
			ms[k].Payload = payloads[off : off+n : off+n]
			off += n
			run[i+k] = &ms[k]
		}
		i = j
	}
}
