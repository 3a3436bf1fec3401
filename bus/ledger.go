package bus

import "sync"

// Ledger sums the counters of a set of mailboxes over their whole lives: the mailboxes that
// are open now and every one that was closed. The runtime keeps one per capsule, shared by all
// its instances, so a capsule's totals survive crashes, restarts and stops.
//
// Its Stats satisfy, at every moment, the invariant each mailbox has:
// Offered == Delivered + Evicted + Oversize + Discarded + Queued. A mailbox is folded into the
// ended totals by its Close under both locks (ledger, then mailbox), and a push into a closed
// mailbox adds one offered and one discarded message to the ledger together, so no message is
// counted twice or not at all.
type Ledger struct {
	mu    sync.Mutex
	live  map[*Mailbox]struct{}
	ended MailboxStats // counters of closed mailboxes (Queued fields stay 0)
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger { return &Ledger{live: make(map[*Mailbox]struct{})} }

// NewMailbox returns an empty mailbox with the given limits whose counters are summed in l.
func (l *Ledger) NewMailbox(limits MailboxLimits) *Mailbox {
	m := newMailbox(limits)
	m.ledger = l
	l.mu.Lock()
	l.live[m] = struct{}{}
	l.mu.Unlock()
	return m
}

// Stats returns the sum of the counters of every mailbox of the ledger, open or closed. Queued,
// QueuedBytes and Principals sum the open mailboxes.
func (l *Ledger) Stats() MailboxStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.ended
	for m := range l.live {
		s = s.add(m.Stats())
	}
	return s
}

// Live returns the number of open mailboxes of the ledger.
func (l *Ledger) Live() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.live)
}

// foldLocked moves m, being closed, from the live set to the ended totals. Both l.mu and m.mu
// are held.
func (l *Ledger) foldLocked(m *Mailbox) {
	delete(l.live, m)
	s := m.stats
	l.ended = l.ended.add(s)
}

// lateDiscard counts n pushes into a mailbox of l that was already closed.
func (l *Ledger) lateDiscard(n uint64) {
	l.mu.Lock()
	l.ended.Offered += n
	l.ended.Discarded += n
	l.mu.Unlock()
}

// add returns the field-wise sum of s and o.
func (s MailboxStats) add(o MailboxStats) MailboxStats {
	return MailboxStats{
		Offered:     s.Offered + o.Offered,
		Delivered:   s.Delivered + o.Delivered,
		Evicted:     s.Evicted + o.Evicted,
		Oversize:    s.Oversize + o.Oversize,
		Discarded:   s.Discarded + o.Discarded,
		Queued:      s.Queued + o.Queued,
		QueuedBytes: s.QueuedBytes + o.QueuedBytes,
		Principals:  s.Principals + o.Principals,
	}
}
