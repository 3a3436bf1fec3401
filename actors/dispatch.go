package actors

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/topics"
)

// maxChains bounds the interceptor chains in flight; a message that would exceed it is not
// intercepted, and that is counted (DispatchStats.Dropped) and logged.
const maxChains = 4096

// hookTimeout bounds one astrid-hook-trigger call; a handler that takes longer is stopped
// (its instance is closed, which the supervisor sees as a crash) and the chain goes on.
const hookTimeout = 30 * time.Second

// dispatcher routes bus messages to interceptor capsules: the [subscribe] entries with a
// handler. It taps the bus; for a message whose topic strictly matches one or more
// bindings it runs a chain on a goroutine of its own:
//
//   - bindings run in ascending priority; bindings of equal priority run concurrently;
//   - "continue" with data replaces the payload for the next priority (of a concurrent group,
//     the first binding in capsule-id order that returned data wins);
//   - "final" and "deny" end the chain;
//   - a handler that traps, times out, is missing or returns garbage is logged and skipped.
//
// Order: every (capsule, principal) pair has a FIFO ticket lock; a chain takes its tickets for
// all its bindings when the message is published, and calls a capsule only on its turn. So
// one principal's messages reach each capsule in publish order, and a slow capsule delays
// only the messages queued for it.
type dispatcher struct {
	rt     *Runtime
	log    *zap.Logger
	untap  func()
	closed chan struct{}
	wg     sync.WaitGroup
	slots  chan struct{}

	mu        sync.Mutex
	index     *topics.Index[*binding]
	byCapsule map[*Capsule][]*binding
	locks     map[lockKey]*fifoLock

	dispatched, dropped, failed atomic.Uint64
	bindings                    atomic.Int64 // registered bindings: tap returns at once at 0
}

// binding is one interceptor of one capsule.
type binding struct {
	capsule  *Capsule
	topic    string // the strict pattern
	action   string
	priority uint32
	removed  bool // set by unregister under dispatcher.mu
}

type lockKey struct {
	capsule   string
	principal bus.Principal
}

// DispatchStats count interceptor activity.
type DispatchStats struct {
	// Dispatched counts messages that started a chain.
	Dispatched uint64
	// Dropped counts messages that matched bindings but were not intercepted because
	// maxChains chains were in flight.
	Dropped uint64
	// HandlerErrors counts handler calls that failed (trap, timeout, missing instance,
	// malformed result).
	HandlerErrors uint64
}

func newDispatcher(rt *Runtime) *dispatcher {
	d := &dispatcher{
		rt:        rt,
		log:       rt.log.Named("dispatch"),
		closed:    make(chan struct{}),
		slots:     make(chan struct{}, maxChains),
		index:     topics.NewIndex[*binding](),
		byCapsule: map[*Capsule][]*binding{},
		locks:     map[lockKey]*fifoLock{},
	}
	d.untap = rt.bus.Tap(d.tap)
	return d
}

// register adds a capsule's bindings.
func (d *dispatcher) register(c *Capsule, bindings []abi.Binding) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, b := range bindings {
		bd := &binding{capsule: c, topic: b.Topic, action: b.Action, priority: b.Priority}
		if err := d.index.Add(b.Topic, bd); err != nil {
			for _, added := range d.byCapsule[c] {
				d.index.Remove(added.topic, added)
			}
			delete(d.byCapsule, c)
			return fmt.Errorf("capsule %s: interceptor %q: %w", c.ID(), b.Topic, err)
		}
		d.byCapsule[c] = append(d.byCapsule[c], bd)
		d.bindings.Add(1)
	}
	return nil
}

// unregister removes every binding of a capsule.
func (d *dispatcher) unregister(c *Capsule) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, b := range d.byCapsule[c] {
		b.removed = true
		d.index.Remove(b.topic, b)
		d.bindings.Add(-1)
	}
	delete(d.byCapsule, c)
	for k := range d.locks {
		if k.capsule == c.ID() && d.locks[k].idle() {
			delete(d.locks, k)
		}
	}
}

// tap runs on the publisher's goroutine for every message: find the bindings, take the
// tickets, start the chain. The bindings are matched without the mutex (the index has lock-free
// readers; register and unregister, its writers, hold d.mu), so a publish no binding matches
// takes no lock; d.mu is held only to take tickets, after dropping bindings unregistered since.
func (d *dispatcher) tap(msg *bus.Message) {
	if d.bindings.Load() == 0 {
		return
	}
	var buf [8]*binding
	cands := d.index.Match(msg.Topic, buf[:0])
	matched := cands[:0]
	for _, b := range cands {
		if topics.MatchStrict(b.topic, msg.Topic) {
			matched = append(matched, b)
		}
	}
	if len(matched) == 0 {
		return
	}
	d.mu.Lock()
	live := matched[:0]
	for _, b := range matched {
		if !b.removed {
			live = append(live, b)
		}
	}
	matched = live
	if len(matched) == 0 {
		d.mu.Unlock()
		return
	}
	chain := make([]step, len(matched))
	for i, b := range matched {
		chain[i] = step{b: b}
	}
	slices.SortStableFunc(chain, func(x, y step) int {
		return cmp.Or(cmp.Compare(x.b.priority, y.b.priority), cmp.Compare(x.b.capsule.ID(), y.b.capsule.ID()))
	})
	select {
	case d.slots <- struct{}{}:
	default:
		d.mu.Unlock()
		d.dropped.Add(1)
		d.log.Warn("interceptor chain dropped: too many in flight", zap.String("topic", msg.Topic), zap.Uint64("seq", msg.Seq))
		return
	}
	for i := range chain {
		key := lockKey{capsule: chain[i].b.capsule.ID(), principal: msg.Principal}
		l := d.locks[key]
		if l == nil {
			l = newFIFOLock()
			d.locks[key] = l
		}
		chain[i].lock, chain[i].ticket = l, l.take()
	}
	d.mu.Unlock()
	d.dispatched.Add(1)
	d.wg.Add(1)
	go d.run(msg, chain)
}

// step is one binding of a chain with its ticket.
type step struct {
	b      *binding
	lock   *fifoLock
	ticket uint64
}

// run executes one chain.
func (d *dispatcher) run(msg *bus.Message, chain []step) {
	defer d.wg.Done()
	defer func() { <-d.slots }()
	payload := msg.Payload
	for len(chain) > 0 {
		n := 1
		for n < len(chain) && chain[n].b.priority == chain[0].b.priority {
			n++
		}
		group := chain[:n]
		chain = chain[n:]
		results := make([]hookResult, len(group))
		var wg sync.WaitGroup
		for i := range group {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = d.call(msg, payload, group[i])
			}()
		}
		wg.Wait()
		stop := false
		var replaced []byte
		for i, r := range results {
			switch {
			case r.err != nil:
				d.failed.Add(1)
				d.log.Warn("interceptor failed; the chain goes on", zap.String("capsule_id", group[i].b.capsule.ID()),
					zap.String("action", group[i].b.action), zap.String("topic", msg.Topic), zap.Error(r.err))
			case r.action == abi.HookFinal || r.action == abi.HookDeny:
				stop = true
				d.log.Debug("interceptor chain ended", zap.String("capsule_id", group[i].b.capsule.ID()),
					zap.String("topic", msg.Topic), zap.Uint8("result", uint8(r.action)), zap.ByteString("data", r.data))
			case len(r.data) > 0 && replaced == nil:
				replaced = r.data
			}
		}
		if stop {
			for _, s := range chain {
				s.lock.release(s.ticket)
			}
			return
		}
		if replaced != nil {
			payload = replaced
		}
	}
}

// call invokes one binding on its turn.
func (d *dispatcher) call(msg *bus.Message, payload []byte, s step) hookResult {
	defer s.lock.release(s.ticket)
	select {
	case <-s.lock.turn(s.ticket):
	case <-d.closed:
		return hookResult{err: ErrRuntimeClosed}
	}
	caller := *msg
	caller.Payload = payload
	return s.b.capsule.invoke(d.closed, &hookCall{action: s.b.action, payload: payload, caller: &caller})
}

// stats returns the counters.
func (d *dispatcher) stats() DispatchStats {
	return DispatchStats{Dispatched: d.dispatched.Load(), Dropped: d.dropped.Load(), HandlerErrors: d.failed.Load()}
}

// close stops tapping and waits for the chains in flight, which end quickly once their
// capsules are stopped.
func (d *dispatcher) close() {
	d.untap()
	close(d.closed)
	d.wg.Wait()
}

// fifoLock hands out turns in ticket order. A ticket released before its turn (a chain that
// ended early) is skipped when its turn comes.
type fifoLock struct {
	mu      sync.Mutex
	next    uint64 // next ticket to hand out
	serving uint64 // ticket whose turn it is
	done    map[uint64]bool
	waiters map[uint64]chan struct{}
}

func newFIFOLock() *fifoLock {
	return &fifoLock{done: map[uint64]bool{}, waiters: map[uint64]chan struct{}{}}
}

func (l *fifoLock) take() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.next
	l.next++
	return t
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// turn returns a channel closed when it is ticket t's turn.
func (l *fifoLock) turn(t uint64) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.serving == t {
		return closedChan
	}
	c := make(chan struct{})
	l.waiters[t] = c
	return c
}

// release ends ticket t (used or skipped) and passes the turn on.
func (l *fifoLock) release(t uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done[t] = true
	for l.done[l.serving] {
		delete(l.done, l.serving)
		l.serving++
		if c, ok := l.waiters[l.serving]; ok {
			delete(l.waiters, l.serving)
			close(c)
		}
	}
}

func (l *fifoLock) idle() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.serving == l.next
}

// hookCall is one interceptor invocation handed to a capsule's worker goroutine.
type hookCall struct {
	action  string
	payload []byte
	caller  *bus.Message
	reply   chan hookResult
}

type hookResult struct {
	action abi.HookAction
	data   []byte
	err    error
}

// errNoInstance is returned when an interceptor capsule has no running instance (it is
// restarting or stopped).
var errNoInstance = errors.New("no running instance")

// invoke sends a call to the capsule's current instance and waits for the result.
func (c *Capsule) invoke(closed <-chan struct{}, call *hookCall) hookResult {
	c.mu.Lock()
	calls, done := c.calls, c.instDone
	c.mu.Unlock()
	if calls == nil {
		return hookResult{err: errNoInstance}
	}
	call.reply = make(chan hookResult, 1)
	select {
	case calls <- call:
	case <-done:
		return hookResult{err: errNoInstance}
	case <-closed:
		return hookResult{err: ErrRuntimeClosed}
	}
	select {
	case r := <-call.reply:
		return r
	case <-done:
		// The instance ended while handling the call, which got no reply.
		select {
		case r := <-call.reply:
			return r
		default:
			return hookResult{err: errNoInstance}
		}
	}
}
