package cluster

import (
	"slices"
	"sync/atomic"
)

// forwardSlots is the number of entries of a node's forward cache (a power of two).
const forwardSlots = 64

// forwardCache remembers, for recently published topics, the peers with a matching pattern, so
// that Forward matches a topic against the remote index once per change of the index rather
// than once per message. It is a fixed array of slots chosen by the topic's hash: bounded
// memory, no locks; two topics that share a slot take turns. An entry is valid for the
// generation of the index it was computed from: every change of the index bumps the
// generation (after the change, under Node.mu), so a Forward that starts after a change —
// in particular after a peer confirmed a subscription — never uses an older entry.
//
// The zero value is ready to use. Slots are chosen by FNV-1a: topics that collide (by chance
// or crafted) only cost a Match each, never a wrong answer.
type forwardCache struct {
	gen   atomic.Uint64
	slots [forwardSlots]atomic.Pointer[forwardEntry]
}

func slotOf(topic string) int {
	h := uint32(2166136261)
	for i := 0; i < len(topic); i++ {
		h = (h ^ uint32(topic[i])) * 16777619
	}
	return int(h & (forwardSlots - 1))
}

// forwardEntry is an immutable cache entry.
type forwardEntry struct {
	gen   uint64
	topic string
	peers []*peer // distinct
}

// invalidate is called after every change of the remote index.
func (c *forwardCache) invalidate() { c.gen.Add(1) }

// peers returns the distinct peers whose patterns match topic, computing them with match on a
// miss. The result must not be modified.
func (c *forwardCache) peers(topic string, match func(dst []*peer) []*peer) []*peer {
	gen := c.gen.Load() // before the index is read: an entry never outlives its generation
	slot := &c.slots[slotOf(topic)]
	if e := slot.Load(); e != nil && e.gen == gen && e.topic == topic {
		return e.peers
	}
	var buf [8]*peer
	ps := match(buf[:0])
	distinct := make([]*peer, 0, len(ps))
	for _, p := range ps {
		if !slices.Contains(distinct, p) {
			distinct = append(distinct, p)
		}
	}
	slot.Store(&forwardEntry{gen: gen, topic: topic, peers: distinct})
	return distinct
}
