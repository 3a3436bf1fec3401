package bus

import (
	"time"

	"github.com/google/uuid"

	"github.com/astrid-actors/astrid-actors/topics"
)

// l1Size is the number of topics one match cache remembers.
const l1Size = 8

// l1 is a match cache owned by one publisher at a time, in the manner of nats-server's
// per-client L1 cache: for up to l1Size recent topics it keeps the index groups
// (topics.Index.Lookup) that matched them in generation gen. A change of the subscription table
// (Bus.generation) empties it; refilling an entry costs O(segments + matching patterns), not
// O(subscriptions), since the groups are views of the index's value arrays, not copies.
type l1 struct {
	gen     uint64
	n       int // entries in use
	last    int // entry of the last hit
	victim  int // next entry replaced when all are in use
	entries [l1Size]l1Entry

	// validTopic is the last topic that passed topics.Validate with HostLimits (Bus.check).
	validTopic string
}

type l1Entry struct {
	topic  string
	groups []topics.Group[*Subscription]
}

// lookup returns the groups of the subscriptions matching topic. The result is valid until the
// next lookup on c.
func (c *l1) lookup(b *Bus, topic string) []topics.Group[*Subscription] {
	// Read the generation before the index: a Lookup that already sees a newer change is then
	// stored under an older generation and redone at the next call, never the reverse.
	gen := b.generation.Load()
	if gen != c.gen {
		c.gen, c.n = gen, 0
	} else if c.n > 0 {
		if e := &c.entries[c.last]; e.topic == topic {
			return e.groups
		}
		for i := range c.n {
			if e := &c.entries[i]; e.topic == topic {
				c.last = i
				return e.groups
			}
		}
	}
	i := c.n
	if i < l1Size {
		c.n++
	} else {
		i = c.victim
		c.victim = (c.victim + 1) % l1Size
	}
	e := &c.entries[i]
	e.topic = topic
	clear(e.groups) // drop references to old views before reuse
	e.groups = b.index.Lookup(topic, e.groups[:0])
	c.last = i
	return e.groups
}

// getL1 returns a match cache of b for one publish made without a Publisher; putL1 gives it
// back. The pool (Bus.l1s, one per bus: a cache is only valid for the index it was filled
// from) keeps them per P, so concurrent publishers neither share nor evict one entry.
func (b *Bus) getL1() *l1 {
	if c, ok := b.l1s.Get().(*l1); ok {
		return c
	}
	return new(l1)
}

func (b *Bus) putL1(c *l1) { b.l1s.Put(c) }

// slotsOf is the number of subscription slots of groups: the most mailboxes a message matched
// through them is queued in, what its reference count and the maxRecycledFanout rule go by.
func slotsOf(groups []topics.Group[*Subscription]) int {
	n := 0
	for _, g := range groups {
		n += g.Len()
	}
	return n
}

// deliverGroups pushes msg into every live subscription of groups and returns how many, and
// the number of references it took for mailboxes but did not use: the caller gives them back
// with its own (one atomic add for all of them, instead of one per mailbox). The caller holds
// a reference of its own meanwhile, so the count cannot reach zero early.
func deliverGroups(groups []topics.Group[*Subscription], msg *Message) (n int, unused int32) {
	slots := slotsOf(groups)
	if slots == 0 {
		return 0, 0
	}
	if slots > maxRecycledFanout {
		msg.unpool()
	}
	msg.ref(int32(slots)) // before any push: a consumer may drain and release at once
	queued := 0
	for _, g := range groups {
		for i := range g.Len() {
			if s, ok := g.At(i); ok {
				if s.mailbox.push(msg, false) {
					queued++
				}
				n++
			}
		}
	}
	return n, int32(slots - queued)
}

// Publisher publishes on behalf of one publisher (a capsule instance, a Go component) with a
// match cache of its own, so publishers on different topics do not evict each other's entries.
// A Publisher must be used by one goroutine at a time. Create it with Bus.NewPublisher.
type Publisher struct {
	b     *Bus
	cache l1
}

// NewPublisher returns a Publisher for b.
func (b *Bus) NewPublisher() *Publisher { return &Publisher{b: b} }

// Publish is Bus.Publish through p's match cache, except that the result's Message is nil: the
// message is recycled once every subscriber released it (see Message).
func (p *Publisher) Publish(topic string, payload []byte, source uuid.UUID, principal Principal) (PublishResult, error) {
	return p.b.publishVia(&p.cache, topic, payload, source, principal, p.b.opts.Now(), false)
}

// PublishAt is Publish (result without Message) with the message stamped at instead of a new reading of the bus's
// clock: at must be a reading of Bus.Now the caller took for this publish (the host's rate
// limiter and the message then share one clock read).
func (p *Publisher) PublishAt(topic string, payload []byte, source uuid.UUID, principal Principal, at time.Time) (PublishResult, error) {
	return p.b.publishVia(&p.cache, topic, payload, source, principal, at, false)
}
