package bus

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/astrid-actors/astrid-actors/abi"
)

// Default mailbox limits.
const (
	// DefaultMailboxBytes is the default byte budget of one subscription mailbox: 1 MiB of
	// payload plus room for the topic, so that one message of the largest publishable size
	// (abi.MaxPayloadBytes on an abi.MaxTopicBytes topic) fits.
	DefaultMailboxBytes = abi.MaxPayloadBytes + abi.MaxTopicBytes
	// DefaultPerPrincipalMessages is the default count cap of one flow's queue in a mailbox.
	DefaultPerPrincipalMessages = 256
	// minQuantum is the smallest deficit round robin quantum, so that many principals do not
	// make every turn too small to emit anything.
	minQuantum = 4 << 10
	// maxFreeBucketCap is the largest queue capacity (in messages; 16 bytes each) a mailbox
	// keeps in its one spare bucket when a flow's queue empties, so that a flow that is drained
	// empty again and again does not regrow its queue each time. A larger queue is left to the GC.
	maxFreeBucketCap = 4096
)

// ErrClosed is returned when waiting on a mailbox whose subscription was dropped, or using a bus
// that was closed.
var ErrClosed = errors.New("bus: closed")

// ErrFenced is returned by Publish when Options.Remote refused the publisher: an instance of
// a cluster-placed capsule whose lease this node no longer holds (docs/cluster.md, fencing).
var ErrFenced = errors.New("bus: the publisher's cluster lease is not held here")

// MailboxLimits bounds one mailbox.
type MailboxLimits struct {
	// Bytes is the byte budget (payload + topic bytes of every queued message).
	// Zero means DefaultMailboxBytes.
	Bytes int
	// PerPrincipal caps the number of queued messages of one flow: one principal's messages
	// from one publishing instance. Zero means DefaultPerPrincipalMessages.
	PerPrincipal int
}

func (l MailboxLimits) withDefaults() MailboxLimits {
	if l.Bytes <= 0 {
		l.Bytes = DefaultMailboxBytes
	}
	if l.PerPrincipal <= 0 {
		l.PerPrincipal = DefaultPerPrincipalMessages
	}
	return l
}

// MailboxStats are the cumulative counters of one mailbox. For every message offered to a
// mailbox, exactly one of Delivered, Evicted, Oversize or Discarded is eventually incremented,
// or it is still Queued: Offered == Delivered + Dropped() + Queued.
type MailboxStats struct {
	// Offered counts messages the bus offered to this mailbox.
	Offered uint64
	// Delivered counts messages handed out by Drain.
	Delivered uint64
	// Evicted counts messages dropped to make room: the byte budget was full (the oldest
	// message of the mailbox was dropped) or the message's flow (principal and publishing
	// instance) had PerPrincipal messages queued (that flow's oldest was dropped).
	Evicted uint64
	// Oversize counts messages rejected because they alone exceed the byte budget.
	Oversize uint64
	// Discarded counts messages still queued when the mailbox was closed.
	Discarded uint64
	// Lagged counts messages lost between nodes before they reached this mailbox (Bus.Lag);
	// they were never offered, so they are not part of the equation above.
	Lagged uint64
	// Queued and QueuedBytes describe what is waiting now.
	Queued      int
	QueuedBytes int
	// Principals is the number of flows (principal, publishing instance) with queued messages.
	Principals int
}

// Dropped is the total of messages lost to this subscriber, each counted once.
func (s MailboxStats) Dropped() uint64 { return s.Evicted + s.Oversize + s.Discarded }

// Unaccounted returns Offered - (Delivered + Evicted + Oversize + Discarded + Queued): 0 for
// every snapshot of a mailbox or a Ledger. Anything else is a lost (positive) or doubly
// counted (negative) message.
func (s MailboxStats) Unaccounted() int64 {
	return int64(s.Offered) - int64(s.Delivered+s.Evicted+s.Oversize+s.Discarded) - int64(s.Queued)
}

// Mailbox is the bounded queue of one subscription.
//
// Messages are queued per flow: one flow per (principal, publishing instance), so every
// capsule loaded by the CLI, all publishing as verified(default), still gets a queue of its
// own. Drain serves the flows by deficit round robin, one flow (hence one principal) per batch,
// so a chatty principal or a flooding capsule cannot starve the others. When the byte budget is
// exceeded the oldest queued message is evicted; when one flow has PerPrincipal messages queued
// its oldest is evicted; a message larger than the whole budget is rejected. Every such loss is
// counted (MailboxStats, and the dropped value Drain reports), never silent.
//
// Any number of goroutines may Push; Drain and Wait are meant for one consumer at a time but are
// safe from several.
type Mailbox struct {
	limits MailboxLimits
	ledger *Ledger // nil, or the ledger this mailbox's counters are summed in

	mu         sync.Mutex
	buckets    map[flow]*bucket
	first      *bucket   // rotation: the flows with queued messages, in round-robin order,
	lastRot    *bucket   // as a doubly linked list (O(1) removal and rotation)
	nrot       int       // buckets in the rotation
	order      []ordered // every queued message's (bucket, stamp) in enqueue order, and stale ones
	orderHead  int       // order[:orderHead] are consumed
	bytes      int
	count      int
	enqueued   uint64 // enqueue stamp, to find the oldest head across buckets
	pending    uint64 // dropped since the last reported batch
	lagging    uint64 // lost between nodes since the last reported batch (Bus.Lag)
	stats      MailboxStats
	notify     chan struct{} // capacity 1: a push wakes one waiter
	closedCh   chan struct{} // closed by Close: wakes every waiter
	waiters    int           // goroutines in Wait or WaitAny on this mailbox
	timer      *time.Timer   // reused by Wait; nil while a waiter holds it
	closed     bool
	freeBucket *bucket
	last       *bucket // bucket of the previous push, while it holds messages
}

// ordered locates one pushed message for eviction of the oldest: it is still queued while its
// bucket's head has a stamp at most stamp (a bucket is a FIFO of increasing stamps, and a reused
// bucket only holds newer stamps). Entries of drained or evicted messages are skipped lazily and
// compacted once they outnumber the queued ones, so eviction is O(1) amortized in the number of
// flows.
type ordered struct {
	b     *bucket
	stamp uint64
}

type queued struct {
	msg   *Message
	stamp uint64
}

// flow identifies one fair queue of a mailbox: a principal's messages from one publisher.
type flow struct {
	principal Principal
	source    uuid.UUID
}

func flowOf(msg *Message) flow { return flow{principal: msg.Principal, source: msg.Source} }

// bucket is the FIFO of one flow.
type bucket struct {
	flow       flow
	q          []queued
	head       int
	deficit    int
	prev, next *bucket // rotation links
}

func (b *bucket) len() int { return len(b.q) - b.head }

func (b *bucket) front() queued { return b.q[b.head] }

func (b *bucket) pop() *Message {
	m := b.q[b.head].msg
	b.q[b.head] = queued{}
	b.head++
	if b.head == len(b.q) {
		b.q, b.head = b.q[:0], 0
	} else if b.head > 64 && b.head*2 > len(b.q) {
		n := copy(b.q, b.q[b.head:])
		clear(b.q[n:])
		b.q, b.head = b.q[:n], 0
	}
	return m
}

// newMailbox returns an empty mailbox with the given limits (zero fields take the defaults).
func newMailbox(limits MailboxLimits) *Mailbox {
	return &Mailbox{
		limits:   limits.withDefaults(),
		buckets:  make(map[flow]*bucket),
		notify:   make(chan struct{}, 1),
		closedCh: make(chan struct{}),
	}
}

// Limits returns the mailbox's effective limits.
func (m *Mailbox) Limits() MailboxLimits { return m.limits }

// Push queues msg, evicting and counting older messages as needed. It reports whether msg was
// queued; false means it was rejected as oversize or the mailbox is closed (a closed mailbox
// counts the message as discarded). A queued message takes a reference (Message.Retain), which
// passes to the consumer that drains it; an evicted or discarded one gives it back.
func (m *Mailbox) Push(msg *Message) bool { return m.push(msg, true) }

// push is Push; with ref false the caller has taken the reference of a queued msg already and
// gets it back when push reports false (deliverGroups takes those of every mailbox at once).
func (m *Mailbox) push(msg *Message, ref bool) bool {
	m.mu.Lock()
	ok := m.pushLocked(msg, ref)
	closed := m.closed
	if ok && m.waiters > 0 {
		m.wakeOne()
	}
	m.mu.Unlock()
	if closed {
		if l := m.ledger; l != nil {
			// Close folded this mailbox into the ledger; a late push is added there directly.
			l.lateDiscard(1)
		}
	}
	return ok
}

// PushBatch is Push of every message of msgs, in order, under one acquisition of the lock and
// with at most one wake-up: each message is queued, evicts or is counted exactly as by Push.
// It returns how many were queued.
func (m *Mailbox) PushBatch(msgs []*Message) int {
	queued := 0
	m.mu.Lock()
	for _, msg := range msgs {
		if m.pushLocked(msg, true) {
			queued++
		}
	}
	closed := m.closed
	if queued > 0 && m.waiters > 0 {
		m.wakeOne()
	}
	m.mu.Unlock()
	if closed {
		if l := m.ledger; l != nil {
			l.lateDiscard(uint64(len(msgs)))
		}
	}
	return queued
}

// pushLocked is push under m.mu, without the wake-up and the ledger's late discard.
func (m *Mailbox) pushLocked(msg *Message, ref bool) bool {
	m.stats.Offered++
	if m.closed {
		m.stats.Discarded++
		return false
	}
	size := msg.Size()
	if size > m.limits.Bytes {
		m.stats.Oversize++
		m.pending++
		return false
	}
	f := flowOf(msg)
	b := m.bucketOf(f)
	if b != nil && b.len() >= m.limits.PerPrincipal {
		m.evictFrom(b)
	}
	for m.bytes+size > m.limits.Bytes {
		m.evictFrom(m.oldestBucket())
	}
	if b == nil || b.len() == 0 {
		// b was absent, or eviction emptied and removed it.
		b = m.newBucket(f)
	}
	if ref {
		msg.ref(1) // under m.mu: before any consumer can drain and release it
	}
	m.last = b
	m.enqueued++
	b.q = append(b.q, queued{msg: msg, stamp: m.enqueued})
	m.order = append(m.order, ordered{b: b, stamp: m.enqueued})
	if live := len(m.order) - m.orderHead; live > 2*m.count+64 || m.orderHead > live {
		m.compactOrder()
	}
	m.bytes += size
	m.count++
	return true
}

// bucketOf returns f's bucket or nil. The bucket of the previous push is checked first: most
// mailboxes see long runs of one flow, and comparing beats hashing.
func (m *Mailbox) bucketOf(f flow) *bucket {
	if l := m.last; l != nil && l.flow == f {
		return l
	}
	return m.buckets[f]
}

func (m *Mailbox) newBucket(f flow) *bucket {
	b := m.freeBucket
	if b != nil {
		m.freeBucket = nil
		b.flow = f
	} else {
		b = &bucket{flow: f}
	}
	m.buckets[f] = b
	m.link(b)
	return b
}

// link appends b to the rotation.
func (m *Mailbox) link(b *bucket) {
	b.prev, b.next = m.lastRot, nil
	if m.lastRot != nil {
		m.lastRot.next = b
	} else {
		m.first = b
	}
	m.lastRot = b
	m.nrot++
}

// unlink removes b from the rotation.
func (m *Mailbox) unlink(b *bucket) {
	if b.prev != nil {
		b.prev.next = b.next
	} else {
		m.first = b.next
	}
	if b.next != nil {
		b.next.prev = b.prev
	} else {
		m.lastRot = b.prev
	}
	b.prev, b.next = nil, nil
	m.nrot--
}

// queuedAt reports whether the message of e is still queued.
func (e ordered) queuedAt() bool { return e.b.len() > 0 && e.b.front().stamp <= e.stamp }

// compactOrder drops the entries of messages no longer queued.
func (m *Mailbox) compactOrder() {
	kept := m.order[:0]
	for _, e := range m.order[m.orderHead:] {
		if e.queuedAt() {
			kept = append(kept, e)
		}
	}
	clear(m.order[len(kept):])
	m.order, m.orderHead = kept, 0
}

// evictFrom drops the oldest message of b, counts it and gives back its reference.
func (m *Mailbox) evictFrom(b *bucket) {
	msg := b.pop()
	m.bytes -= msg.Size()
	msg.unref(1)
	m.count--
	m.stats.Evicted++
	m.pending++
	if b.len() == 0 {
		m.removeBucket(b)
	}
}

// oldestBucket returns the bucket whose head was enqueued first. The mailbox must be non-empty.
// The first queued entry of order is that head: an older queued message would have an earlier
// entry.
func (m *Mailbox) oldestBucket() *bucket {
	for {
		e := m.order[m.orderHead]
		if e.queuedAt() {
			return e.b
		}
		m.order[m.orderHead] = ordered{}
		m.orderHead++
	}
}

func (m *Mailbox) removeBucket(b *bucket) {
	m.unlink(b)
	delete(m.buckets, b.flow)
	if m.last == b {
		m.last = nil
	}
	b.deficit = 0
	b.q, b.head = b.q[:0], 0
	if m.freeBucket == nil && cap(b.q) <= maxFreeBucketCap {
		m.freeBucket = b
	}
}

// Batch is the result of one Drain.
type Batch struct {
	// Messages are the drained messages, all of one flow (so of one principal), oldest first.
	Messages []*Message
	// Dropped is the number of messages this mailbox lost since the last batch was reported.
	Dropped uint64
	// Lagged is the number of messages for this subscription lost between nodes since the last
	// batch was reported (see Bus.Lag); like Dropped it is reset only by a consuming batch.
	Lagged uint64
	// Refused is true when take refused the first candidate message: nothing was consumed and
	// Refused names it, so the caller can report the space it needs. It carries no reference:
	// it stays queued, so read it before anyone may drain (and release) it.
	Refused *Message
}

// Drain removes and returns queued messages of one flow, chosen by deficit round robin,
// up to budget bytes (payload + topic; the first message of a batch is always allowed, so a
// message larger than budget is not stuck). take is called for every candidate in order; returning
// false stops the batch there and leaves that message queued. Drain never blocks.
//
// If take refuses the very first candidate, Drain consumes nothing and reports the candidate in
// Batch.Refused; Dropped is then reported but not reset, so the next batch reports it again.
// Otherwise the dropped counter is reset and the returned value reported in Batch.Dropped.
// dst is reused for the result when it has capacity.
//
// Each returned message carries a reference for the caller: calling its Release when done with
// it lets the bus reuse it (after that, neither it nor its Payload may be used); never calling
// Release is always safe.
func (m *Mailbox) Drain(dst []*Message, budget int, take func(*Message) bool) Batch {
	dst = dst[:0]
	m.mu.Lock()
	defer m.mu.Unlock()
	out := Batch{Dropped: m.pending, Lagged: m.lagging}
	if m.count == 0 {
		m.pending, m.lagging = 0, 0
		out.Messages = dst
		return out
	}
	quantum := max(minQuantum, budget/m.nrot)
	served := 0
	// Each full pass over the rotation adds quantum to every deficit, so a head of at most
	// budget bytes is emitted within len(rotation)*budget/quantum passes.
	for m.count > 0 {
		b := m.first
		saved := b.deficit
		b.deficit += quantum
		for b.len() > 0 {
			head := b.front().msg
			size := head.Size()
			if size > b.deficit || (served > 0 && served+size > budget) {
				break
			}
			if !take(head) {
				if len(dst) == 0 {
					b.deficit = saved
					out.Refused = head
					out.Messages = dst
					return out
				}
				break
			}
			b.pop()
			b.deficit -= size
			served += size
			m.bytes -= size
			m.count--
			dst = append(dst, head)
		}
		m.rotateAfterServe(b)
		if len(dst) > 0 {
			break
		}
	}
	m.stats.Delivered += uint64(len(dst))
	m.pending, m.lagging = 0, 0
	out.Messages = dst
	return out
}

// rotateAfterServe moves b, the head of the rotation, to the back, or removes it when empty.
func (m *Mailbox) rotateAfterServe(b *bucket) {
	if b.len() == 0 {
		m.removeBucket(b)
		return
	}
	if b.next != nil {
		m.unlink(b)
		m.link(b)
	}
}

// addLagged counts n messages lost between nodes, reported by the next batch.
func (m *Mailbox) addLagged(n uint64) {
	m.mu.Lock()
	m.lagging += n
	m.stats.Lagged += n
	m.mu.Unlock()
}

// Len returns the number of queued messages.
func (m *Mailbox) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.count
}

// Stats returns a snapshot of the mailbox counters.
func (m *Mailbox) Stats() MailboxStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.stats
	s.Queued, s.QueuedBytes, s.Principals = m.count, m.bytes, m.nrot
	return s
}

// wakeOne lets one waiter re-check the queue. The token is kept if nobody is receiving yet.
func (m *Mailbox) wakeOne() {
	select {
	case m.notify <- struct{}{}:
	default:
	}
}

// state reports, under the lock, whether messages are queued or the mailbox is closed.
func (m *Mailbox) state() (ready bool, err error) {
	if m.count > 0 {
		return true, nil
	}
	if m.closed {
		return false, ErrClosed
	}
	return false, nil
}

// Wait blocks until a message is queued (true), the timeout passes (false), ctx is done
// (ctx.Err()) or the mailbox is closed (ErrClosed). Cancellation wins at once: a done ctx makes
// Wait return without looking at the queue. A timeout <= 0 only checks the queue. Waiting
// allocates nothing in the steady state: the wake-up channel and the timer are reused.
func (m *Mailbox) Wait(ctx context.Context, timeout time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	m.mu.Lock()
	if ok, err := m.state(); ok || err != nil || timeout <= 0 {
		m.mu.Unlock()
		return ok, err
	}
	m.waiters++
	t := m.timer
	m.timer = nil
	m.mu.Unlock()
	if t == nil {
		t = time.NewTimer(timeout)
	} else {
		t.Reset(timeout)
	}
	defer m.endWait(t)
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-t.C:
			return false, nil
		case <-m.notify:
		case <-m.closedCh:
		}
		m.mu.Lock()
		ok, err := m.state()
		m.mu.Unlock()
		if ok || err != nil {
			return ok, err
		}
	}
}

// endWait unregisters a waiter, keeps its timer for the next Wait, and passes the wake-up on
// when messages remain for other waiters.
func (m *Mailbox) endWait(t *time.Timer) {
	t.Stop()
	m.mu.Lock()
	m.waiters--
	if m.timer == nil {
		m.timer = t
	}
	if m.waiters > 0 && m.count > 0 {
		m.wakeOne()
	}
	m.mu.Unlock()
}

// WaitAny blocks until at least one of the mailboxes has a message queued or is closed, the
// timeout passes, or ctx is done. It returns the indexes of the ready mailboxes (closed ones
// count as ready, so the caller notices them), nil on timeout, or ctx.Err().
func WaitAny(ctx context.Context, timeout time.Duration, boxes []*Mailbox) ([]int, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	readyNow := func() []int {
		var ready []int
		for i, b := range boxes {
			b.mu.Lock()
			ok, err := b.state()
			b.mu.Unlock()
			if ok || err != nil {
				ready = append(ready, i)
			}
		}
		return ready
	}
	if ready := readyNow(); len(ready) > 0 || timeout <= 0 {
		return ready, nil
	}
	cases := make([]reflect.SelectCase, 0, 2*len(boxes)+2)
	for _, b := range boxes {
		b.mu.Lock()
		b.waiters++
		b.mu.Unlock()
		cases = append(cases,
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(b.notify)},
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(b.closedCh)})
	}
	defer func() {
		for _, b := range boxes {
			b.mu.Lock()
			b.waiters--
			if b.waiters > 0 && b.count > 0 {
				b.wakeOne()
			}
			b.mu.Unlock()
		}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)})
	for {
		// Check after registering as a waiter, so a push in between is not missed.
		if ready := readyNow(); len(ready) > 0 {
			return ready, nil
		}
		chosen, _, _ := reflect.Select(cases)
		switch chosen {
		case len(cases) - 2:
			return nil, ctx.Err()
		case len(cases) - 1:
			return nil, nil
		}
	}
}

// Close discards everything queued, counting it as Discarded, and wakes all waiters with
// ErrClosed. Later pushes are counted as discarded. It returns the number of messages it
// discarded, read under the same lock that discards them, so a concurrent push is either
// counted in it or counted later as a discarded late push, never lost. If the mailbox belongs
// to a Ledger, its counters are folded into the ledger in the same step. Close is idempotent:
// later calls return 0.
func (m *Mailbox) Close() (discarded int) {
	if l := m.ledger; l != nil {
		l.mu.Lock()
		defer l.mu.Unlock()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0
	}
	m.closed = true
	discarded = m.count
	m.stats.Discarded += uint64(m.count)
	m.pending += uint64(m.count)
	for b := m.first; b != nil; {
		next := b.next
		for _, q := range b.q[b.head:] {
			q.msg.unref(1)
		}
		clear(b.q)
		b.prev, b.next = nil, nil
		b = next
	}
	m.first, m.lastRot, m.nrot, m.buckets, m.count, m.bytes = nil, nil, 0, nil, 0, 0
	m.order, m.orderHead = nil, 0
	close(m.closedCh)
	if l := m.ledger; l != nil {
		l.foldLocked(m)
	}
	return discarded
}

// Closed reports whether Close was called.
func (m *Mailbox) Closed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}
