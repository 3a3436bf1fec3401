// Package dispatch is the interceptor dispatcher: it taps the bus and runs, for every message
// whose topic strictly matches interceptor bindings ([subscribe] entries with a handler), the
// chain of their handlers, in priority order and per (capsule, principal) in publish order. A
// handler is called through the Port of its capsule, where the capsule's current instance (its
// worker goroutine, internal/capsuleactor) takes the calls. Package actors registers the
// bindings of the capsules it starts.
package dispatch

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

// MaxChains bounds the interceptor chains in flight; a message that would exceed it is not
// intercepted, and that is counted (Stats.Dropped) and logged.
const MaxChains = 4096

// CallTimeout bounds one astrid-hook-trigger call; a handler that takes longer is stopped
// (its instance is closed, which the supervisor sees as a crash) and the chain goes on.
const CallTimeout = 30 * time.Second

// Dispatcher routes bus messages to interceptor capsules: the [subscribe] entries with a
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
type Dispatcher struct {
	log    *zap.Logger
	untap  func()
	closed chan struct{}
	wg     sync.WaitGroup
	slots  chan struct{}

	mu        sync.Mutex
	index     *topics.Index[*binding]
	byCapsule map[*Port][]*binding
	locks     map[lockKey]*fifoLock

	dispatched, dropped, failed atomic.Uint64
	bindings                    atomic.Int64 // registered bindings: tap returns at once at 0
}

// binding is one interceptor of one capsule.
type binding struct {
	capsule  string // the capsule id
	port     *Port
	topic    string // the strict pattern
	action   string
	priority uint32
	removed  bool // set by unregister under dispatcher.mu
}

type lockKey struct {
	capsule   string
	principal bus.Principal
}

// Stats count interceptor activity.
type Stats struct {
	// Dispatched counts messages that started a chain.
	Dispatched uint64
	// Dropped counts messages that matched bindings but were not intercepted because
	// MaxChains chains were in flight.
	Dropped uint64
	// HandlerErrors counts handler calls that failed (trap, timeout, missing instance,
	// malformed result).
	HandlerErrors uint64
}

// New returns a dispatcher tapping b, logging to log.
func New(b *bus.Bus, log *zap.Logger) *Dispatcher {
	d := &Dispatcher{
		log:       log,
		closed:    make(chan struct{}),
		slots:     make(chan struct{}, MaxChains),
		index:     topics.NewIndex[*binding](),
		byCapsule: map[*Port][]*binding{},
		locks:     map[lockKey]*fifoLock{},
	}
	d.untap = b.Tap(d.tap)
	return d
}

// Register adds the bindings of capsule id, whose instances take calls at port.
func (d *Dispatcher) Register(id string, port *Port, bindings []abi.Binding) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, b := range bindings {
		bd := &binding{capsule: id, port: port, topic: b.Topic, action: b.Action, priority: b.Priority}
		if err := d.index.Add(b.Topic, bd); err != nil {
			for _, added := range d.byCapsule[port] {
				d.index.Remove(added.topic, added)
			}
			d.bindings.Add(-int64(len(d.byCapsule[port])))
			delete(d.byCapsule, port)
			return fmt.Errorf("capsule %s: interceptor %q: %w", id, b.Topic, err)
		}
		d.byCapsule[port] = append(d.byCapsule[port], bd)
		d.bindings.Add(1)
	}
	return nil
}

// Unregister removes every binding registered with port, if any.
func (d *Dispatcher) Unregister(port *Port) {
	d.mu.Lock()
	defer d.mu.Unlock()
	bs, ok := d.byCapsule[port]
	if !ok {
		return
	}
	id := bs[0].capsule
	for _, b := range bs {
		b.removed = true
		d.index.Remove(b.topic, b)
		d.bindings.Add(-1)
	}
	delete(d.byCapsule, port)
	for k := range d.locks {
		if k.capsule == id && d.locks[k].idle() {
			delete(d.locks, k)
		}
	}
}

// tap runs on the publisher's goroutine for every message: find the bindings, take the
// tickets, start the chain. The bindings are matched without the mutex (the index has lock-free
// readers; register and unregister, its writers, hold d.mu), so a publish no binding matches
// takes no lock; d.mu is held only to take tickets, after dropping bindings unregistered since.
func (d *Dispatcher) tap(msg *bus.Message) {
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
		return cmp.Or(cmp.Compare(x.b.priority, y.b.priority), cmp.Compare(x.b.capsule, y.b.capsule))
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
		key := lockKey{capsule: chain[i].b.capsule, principal: msg.Principal}
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
	msg.Retain() // the chain outlives the tap: pin msg (never released, left to the GC)
	go d.run(msg, chain)
}

// step is one binding of a chain with its ticket.
type step struct {
	b      *binding
	lock   *fifoLock
	ticket uint64
}

// run executes one chain.
func (d *Dispatcher) run(msg *bus.Message, chain []step) {
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
		results := make([]Result, len(group))
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
			case r.Err != nil:
				d.failed.Add(1)
				d.log.Warn("interceptor failed; the chain goes on", zap.String("capsule_id", group[i].b.capsule),
					zap.String("action", group[i].b.action), zap.String("topic", msg.Topic), zap.Error(r.Err))
			case r.Action == abi.HookFinal || r.Action == abi.HookDeny:
				stop = true
				d.log.Debug("interceptor chain ended", zap.String("capsule_id", group[i].b.capsule),
					zap.String("topic", msg.Topic), zap.Uint8("result", uint8(r.Action)), zap.ByteString("data", r.Data))
			case len(r.Data) > 0 && replaced == nil:
				replaced = r.Data
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
func (d *Dispatcher) call(msg *bus.Message, payload []byte, s step) Result {
	defer s.lock.release(s.ticket)
	select {
	case <-s.lock.turn(s.ticket):
	case <-d.closed:
		return Result{Err: ErrClosed}
	}
	caller := *msg
	caller.Payload = payload
	return s.b.port.invoke(d.closed, &Call{Action: s.b.action, Payload: payload, Caller: &caller})
}

// Stats returns the counters.
func (d *Dispatcher) Stats() Stats {
	return Stats{Dispatched: d.dispatched.Load(), Dropped: d.dropped.Load(), HandlerErrors: d.failed.Load()}
}

// Close stops tapping and waits for the chains in flight, which end quickly once their
// capsules are stopped.
func (d *Dispatcher) Close() {
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

// ErrClosed is the error of a call the dispatcher gave up on because it closed.
var ErrClosed = errors.New("runtime closed")

// errNoInstance is returned when an interceptor capsule has no running instance (it is
// restarting or stopped).
var errNoInstance = errors.New("no running instance")

// Call is one interceptor invocation handed to a capsule's worker goroutine.
type Call struct {
	// Action is the binding's action, the first argument of astrid-hook-trigger.
	Action string
	// Payload is the message's payload as the chain has it (an earlier priority may have
	// replaced it).
	Payload []byte
	// Caller is the message, with Payload, which is the guest's caller during the call.
	Caller *bus.Message
	reply  chan Result
}

// Reply hands the result of the call back to the chain; call it exactly once per call.
func (c *Call) Reply(r Result) { c.reply <- r }

// Result is the outcome of one Call.
type Result struct {
	Action abi.HookAction
	Data   []byte
	Err    error
}

// Port is where an interceptor capsule takes calls: the capsule's current instance serves it
// while it runs (Serve), and the dispatcher calls through it. The zero Port serves nothing.
type Port struct {
	mu    sync.Mutex
	calls chan *Call
	done  <-chan struct{}
}

// Serve makes calls the channel the current instance takes calls on until done is closed; nil
// withdraws it (the instance ended).
func (p *Port) Serve(calls chan *Call, done <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls, p.done = calls, done
}

// invoke sends a call to the current instance and waits for the result.
func (p *Port) invoke(closed <-chan struct{}, call *Call) Result {
	p.mu.Lock()
	calls, done := p.calls, p.done
	p.mu.Unlock()
	if calls == nil {
		return Result{Err: errNoInstance}
	}
	call.reply = make(chan Result, 1)
	select {
	case calls <- call:
	case <-done:
		return Result{Err: errNoInstance}
	case <-closed:
		return Result{Err: ErrClosed}
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
			return Result{Err: errNoInstance}
		}
	}
}
