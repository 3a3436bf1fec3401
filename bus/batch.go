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
// of consecutive records on one topic (up to 64) the match, the reservation of sequence numbers
// and, per matching mailbox, one lock acquisition and at most one wake-up (Mailbox.PushBatch).
// Each message is still a message of its own (newMessage, recycled when its subscribers
// released it): subscribers release messages independently, and allocating a run's messages
// together measured no faster (RATIONALE.md). A subscription added or removed
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
		// One reservation of sequence numbers for the run: consecutive, in publish order.
		seq := b.seq.Add(uint64(len(run))) - uint64(len(run))
		for i := range run {
			m := newMessage(recs[start+i].Payload)
			run[i] = m
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
			m.unref(1) // the publisher's reference
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
// Each queued message takes its reference in Mailbox.PushBatch; a run for more than
// maxRecycledFanout mailboxes is not recycled (see deliverGroups).
func deliverGroupsBatch(groups []topics.Group[*Subscription], run []*Message) int {
	if slotsOf(groups) > maxRecycledFanout {
		for _, m := range run {
			m.unpool()
		}
	}
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
