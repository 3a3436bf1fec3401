// Package bus is the topic bus of astrid-actors: publishers on any goroutine, subscriptions with
// route patterns, and one bounded, fair, counted mailbox per subscription.
//
// A router actor (protoactor-go) owns the subscription table and is its only writer: Subscribe
// and Close of a Subscription are requests to it. Publish does not go through the actor: it
// matches the topic on the publisher's goroutine against the router's lock-free index
// (topics.Index, single writer, concurrent readers) and pushes the message into each matching
// mailbox. So publishing scales with publishers instead of funnelling through one goroutine,
// while every change of the table is serialized by the actor. RATIONALE.md has the
// measurements behind this choice.
//
// Every message published after a Subscribe returned and matching its pattern is, for that
// subscription, delivered exactly once by a Drain or counted once as dropped (MailboxStats).
package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/topics"
)

// Errors of Publish and Subscribe. They are wrapped with context; test with errors.Is.
var (
	ErrInvalidTopic     = errors.New("bus: invalid topic")
	ErrInvalidPattern   = errors.New("bus: invalid pattern")
	ErrInvalidPayload   = errors.New("bus: payload is not valid JSON")
	ErrPayloadTooLarge  = errors.New("bus: payload too large")
	errRouterNotRunning = errors.New("bus: router actor is not running")
)

// Options configure a Bus. The zero value is valid.
type Options struct {
	// MaxPayloadBytes is the largest payload Publish accepts. Zero means abi.MaxPayloadBytes.
	MaxPayloadBytes int
	// Mailbox are the default limits of subscription mailboxes.
	Mailbox MailboxLimits
	// Now returns the publish time of messages. Nil means the wall time at New plus the
	// monotonic time elapsed since (one monotonic read per message; see clock.go).
	Now func() time.Time
	// Logger receives the bus's own log lines. Nil discards them.
	Logger *zap.Logger
	// Remote, when set, links this bus to the buses of other nodes (the cluster package
	// implements it). Nil means a single-node bus.
	Remote Remote
}

// Remote is the hook through which a bus takes part in a cluster: the bus tells it about every
// local publish and every change of its subscription patterns; messages from other nodes come
// back through Bus.Inject and losses between nodes through Bus.Lag.
type Remote interface {
	// Admit is called by Publish before anything is delivered: false refuses the message
	// with ErrFenced, on this node as well as on the others (cluster fencing: the publisher is
	// an instance of a cluster-placed capsule whose lease this node no longer trusts). It
	// must not block.
	Admit(source uuid.UUID) bool
	// Forward is called on the publisher's goroutine after local delivery of every message
	// accepted by Publish (never for Inject). It must not block and must not modify msg. msg is
	// lent for the call: to keep it longer, Forward takes a reference with msg.Retain.
	Forward(msg *Message)
	// Subscribed is called by Subscribe after the router added a subscription with pattern;
	// Subscribe returns when it does, so it may wait until other nodes know the interest.
	Subscribed(ctx context.Context, pattern string) error
	// Unsubscribed is called after a subscription with pattern was removed. Every Subscribed
	// call, successful or not, is matched by exactly one Unsubscribed call.
	Unsubscribed(pattern string)
}

// Bus is the topic bus. Create it with New; it is safe for concurrent use.
type Bus struct {
	opts   Options
	log    *zap.Logger
	system *actor.ActorSystem
	router *actor.PID
	index  *topics.Index[*Subscription]
	seq    atomic.Uint64
	nextID atomic.Uint64
	closed atomic.Bool
	done   chan struct{} // closed when the router actor has stopped
	stats  struct {
		published, unrouted, matched, injected atomic.Uint64
	}
	closeOnce sync.Once
	tapMu     sync.Mutex
	taps      atomic.Pointer[[]*tap]
	// generation counts changes of the index (the router bumps it after each one); the match
	// caches of publishers (match.go) are valid for one generation.
	generation atomic.Uint64
	l1s        sync.Pool // *l1 match caches of publishes without a Publisher (match.go)
}

// tap is one observer registered with Tap.
type tap struct{ fn func(*Message) }

// New starts a bus whose router actor runs in system. The caller keeps ownership of system and
// must Close the bus before shutting the system down.
func New(system *actor.ActorSystem, opts Options) (*Bus, error) {
	if opts.MaxPayloadBytes <= 0 {
		opts.MaxPayloadBytes = abi.MaxPayloadBytes
	}
	opts.Mailbox = opts.Mailbox.withDefaults()
	if opts.Now == nil {
		opts.Now = newMonoClock().now // no wall-clock read per message (clock.go)
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	b := &Bus{
		opts:   opts,
		log:    opts.Logger.Named("bus"),
		system: system,
		index:  topics.NewIndex[*Subscription](),
		done:   make(chan struct{}),
	}
	state := &routerState{bus: b, subs: make(map[uint64]*Subscription)}
	props := actor.PropsFromProducer(func() actor.Actor { return &routerActor{state: state} })
	pid, err := system.Root.SpawnNamed(props, "topic-router-"+uuid.NewString())
	if err != nil {
		return nil, fmt.Errorf("bus: spawn router actor: %w", err)
	}
	b.router = pid
	return b, nil
}

// PublishResult describes one accepted publish.
type PublishResult struct {
	// Message is the published message as subscribers see it. Bus.Publish returns it (and
	// never recycles it: the caller may keep it); a Publisher returns nil, so that the message
	// is reused once its subscribers released it.
	Message *Message
	// Matched is the number of subscriptions whose pattern matched. Each of them either
	// queued the message or counted it as dropped.
	Matched int
}

// Publish validates and publishes one message: the topic must pass topics.Validate with
// topics.HostLimits, payload must be valid JSON (UTF-8) of at most Options.MaxPayloadBytes. The
// payload is validated in place and copied only when accepted (into the message's own
// allocation for the common small sizes), so the caller keeps ownership of payload — it may be
// a view of guest memory. The message is stamped with the bus's clock (Options.Now).
func (b *Bus) Publish(topic string, payload []byte, source uuid.UUID, principal Principal) (PublishResult, error) {
	c := b.getL1()
	defer b.putL1(c)
	return b.publishVia(c, topic, payload, source, principal, b.opts.Now(), true)
}

// publishVia is Publish through the match cache c, stamped at. With keep the result carries the
// message, which the publisher's reference then pins; without, that reference is given back.
func (b *Bus) publishVia(c *l1, topic string, payload []byte, source uuid.UUID, principal Principal, at time.Time, keep bool) (PublishResult, error) {
	if err := b.check(c, topic, payload); err != nil {
		return PublishResult{}, err
	}
	if r := b.opts.Remote; r != nil && !r.Admit(source) {
		return PublishResult{}, ErrFenced
	}
	return b.publishWith(c, newMessage(payload), topic, source, principal, at, keep), nil
}

// Now reads the bus's clock (Options.Now), the one messages are stamped with.
func (b *Bus) Now() time.Time { return b.opts.Now() }

// check validates a publish. The last topic that passed is remembered in the match cache c
// (topics.Validate depends on nothing else), so a publisher repeating its topic validates it once.
func (b *Bus) check(c *l1, topic string, payload []byte) error {
	if b.closed.Load() {
		return ErrClosed
	}
	if topic != c.validTopic || topic == "" {
		if err := topics.Validate(topic, topics.HostLimits); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidTopic, err)
		}
		c.validTopic = topic
	}
	if len(payload) > b.opts.MaxPayloadBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrPayloadTooLarge, len(payload), b.opts.MaxPayloadBytes)
	}
	if !validJSON(payload) {
		return fmt.Errorf("%w (topic %q)", ErrInvalidPayload, topic)
	}
	return nil
}

// publishWith stamps msg (whose Payload is set and whose one reference is the publisher's),
// delivers it through the match cache c, runs the taps and Remote.Forward, then gives back the
// publisher's reference unless keep (see publishVia).
func (b *Bus) publishWith(c *l1, msg *Message, topic string, source uuid.UUID, principal Principal, at time.Time, keep bool) PublishResult {
	msg.Seq = b.seq.Add(1)
	msg.Time = at
	msg.Topic = topic
	msg.Source = source
	msg.Principal = principal
	matched, unused := b.deliver(c, msg)
	b.runTaps(msg)
	if r := b.opts.Remote; r != nil {
		r.Forward(msg)
	}
	if keep {
		return PublishResult{Message: msg, Matched: matched}
	}
	msg.unref(unused + 1)
	return PublishResult{Matched: matched}
}

// runTaps calls every tap with msg.
func (b *Bus) runTaps(msg *Message) {
	if taps := b.taps.Load(); taps != nil {
		for _, t := range *taps {
			t.fn(msg)
		}
	}
}

// Inject delivers a message published on another node to the matching local subscriptions and
// the taps. It keeps every field the origin stamped (Seq, Time, Source, Principal), is not
// forwarded to Remote again and does not count as Published. The bus takes ownership of msg
// (the caller's reference, for a message from NewMessage): the caller must not use it after.
// It returns the number of matched subscriptions; a closed bus or an invalid topic matches none.
func (b *Bus) Inject(msg *Message) int {
	if b.closed.Load() || topics.Validate(msg.Topic, topics.HostLimits) != nil {
		msg.unref(1)
		return 0
	}
	b.stats.injected.Add(1)
	c := b.getL1()
	n, unused := deliverGroups(c.lookup(b, msg.Topic), msg)
	b.putL1(c)
	b.stats.matched.Add(uint64(n))
	b.runTaps(msg)
	msg.unref(unused + 1)
	return n
}

// Lag reports n messages on topic that were lost between nodes: every local subscription whose
// pattern matches topic reports them in the lagged count of its next batch. It returns the
// number of subscriptions charged.
func (b *Bus) Lag(topic string, n uint64) int {
	if n == 0 || b.closed.Load() {
		return 0
	}
	subs := b.match(topic)
	for _, s := range subs {
		s.mailbox.addLagged(n)
	}
	return len(subs)
}

// Tap registers fn to observe every message accepted by Publish from now on, after it was
// delivered to the subscriptions. fn runs synchronously on the publisher's goroutine and must
// not block; it must not modify the message. The message is lent for the call: to keep it
// after fn returned, fn takes a reference with msg.Retain (messages are recycled, see Message).
// The interceptor dispatcher is built on it. The returned function removes the tap.
func (b *Bus) Tap(fn func(*Message)) (untap func()) {
	t := &tap{fn: fn}
	b.tapMu.Lock()
	defer b.tapMu.Unlock()
	var next []*tap
	if cur := b.taps.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, t)
	b.taps.Store(&next)
	return func() {
		b.tapMu.Lock()
		defer b.tapMu.Unlock()
		cur := b.taps.Load()
		if cur == nil {
			return
		}
		kept := make([]*tap, 0, len(*cur))
		for _, x := range *cur {
			if x != t {
				kept = append(kept, x)
			}
		}
		b.taps.Store(&kept)
	}
}

// deliver pushes msg into every matching mailbox, found through the match cache c, and returns
// how many matched and the references it took but did not use (see deliverGroups).
func (b *Bus) deliver(c *l1, msg *Message) (matched int, unused int32) {
	b.stats.published.Add(1)
	n, unused := deliverGroups(c.lookup(b, msg.Topic), msg)
	if n == 0 {
		b.stats.unrouted.Add(1)
	} else {
		b.stats.matched.Add(uint64(n))
	}
	return n, unused
}

// match returns the subscriptions whose pattern matches topic, without a cache (a new slice).
func (b *Bus) match(topic string) []*Subscription {
	return b.index.Match(topic, nil)
}

// Stats are bus-wide counters.
type Stats struct {
	// Published counts accepted publishes.
	Published uint64
	// Unrouted counts accepted publishes that matched no subscription.
	Unrouted uint64
	// Matched is the sum of PublishResult.Matched over every accepted publish, plus the
	// subscriptions every injected message matched: the number of times a message was offered
	// to a mailbox (MailboxStats.Offered summed over every subscription there ever was).
	Matched uint64
	// Injected counts messages from other nodes delivered by Inject.
	Injected uint64
	// Subscriptions is the number of live subscriptions.
	Subscriptions int
}

// Stats returns a snapshot of the bus counters.
func (b *Bus) Stats() Stats {
	return Stats{
		Published:     b.stats.published.Load(),
		Unrouted:      b.stats.unrouted.Load(),
		Matched:       b.stats.matched.Load(),
		Injected:      b.stats.injected.Load(),
		Subscriptions: b.index.Len(),
	}
}

// SubscribeOptions tune one subscription.
type SubscribeOptions struct {
	// Mailbox overrides the bus's default mailbox limits (zero fields keep the defaults).
	Mailbox MailboxLimits
	// Owner is the instance UUID of the subscribing capsule, uuid.Nil for the host.
	Owner uuid.UUID
	// Ledger, when set, sums the subscription's mailbox counters with the ledger's others,
	// before and after the subscription is closed.
	Ledger *Ledger
}

// Subscription is one live subscription: a route pattern and its mailbox.
type Subscription struct {
	id      uint64
	pattern string
	owner   uuid.UUID
	mailbox *Mailbox
	bus     *Bus
	closed  atomic.Bool
}

// ID is the bus-wide unique id of the subscription.
func (s *Subscription) ID() uint64 { return s.id }

// Pattern is the route pattern the subscription was created with.
func (s *Subscription) Pattern() string { return s.pattern }

// Owner is the instance UUID given in SubscribeOptions.
func (s *Subscription) Owner() uuid.UUID { return s.owner }

// Mailbox is the subscription's queue: drain it, wait on it, read its stats.
func (s *Subscription) Mailbox() *Mailbox { return s.mailbox }

// Subscribe registers a subscription for pattern (a route pattern: see topics.MatchRoute; it
// must pass topics.Validate with topics.HostLimits). It returns once the router actor has added
// it: every message published after that and matching pattern reaches the new mailbox.
func (b *Bus) Subscribe(ctx context.Context, pattern string, opts SubscribeOptions) (*Subscription, error) {
	if err := topics.Validate(pattern, topics.HostLimits); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPattern, err)
	}
	limits := opts.Mailbox
	if limits.Bytes <= 0 {
		limits.Bytes = b.opts.Mailbox.Bytes
	}
	if limits.PerPrincipal <= 0 {
		limits.PerPrincipal = b.opts.Mailbox.PerPrincipal
	}
	mb := newMailbox(limits)
	if opts.Ledger != nil {
		mb = opts.Ledger.NewMailbox(limits)
	}
	s := &Subscription{
		id:      b.nextID.Add(1),
		pattern: pattern,
		owner:   opts.Owner,
		mailbox: mb,
		bus:     b,
	}
	if err := b.request(ctx, &subscribeCmd{sub: s, reply: make(chan error, 1)}); err != nil {
		// The router may still add the subscription (ctx ended while the request was queued):
		// withdraw it. The router handles requests in order, so the withdrawal comes after the
		// add; messages offered in between are counted as discarded by the closed mailbox.
		s.closed.Store(true)
		s.mailbox.Close()
		if !errors.Is(err, ErrClosed) {
			_ = b.request(context.Background(), &unsubscribeCmd{sub: s, reply: make(chan error, 1)})
		}
		return nil, fmt.Errorf("bus: subscribe %q: %w", pattern, err)
	}
	if r := b.opts.Remote; r != nil {
		if err := r.Subscribed(ctx, pattern); err != nil {
			_ = s.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("bus: subscribe %q on other nodes: %w", pattern, err)
		}
	}
	return s, nil
}

// Close removes the subscription from the bus and closes its mailbox; messages still queued
// are discarded and counted (MailboxStats.Discarded). Close is idempotent; after the bus is
// closed it only closes the mailbox.
func (s *Subscription) Close(ctx context.Context) error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	defer s.mailbox.Close()
	if r := s.bus.opts.Remote; r != nil {
		defer r.Unsubscribed(s.pattern)
	}
	if s.bus.closed.Load() {
		return nil
	}
	err := s.bus.request(ctx, &unsubscribeCmd{sub: s, reply: make(chan error, 1)})
	if errors.Is(err, ErrClosed) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bus: unsubscribe %q: %w", s.pattern, err)
	}
	return nil
}

// request sends cmd to the router actor and waits for its reply, the bus to close, or ctx.
func (b *Bus) request(ctx context.Context, cmd routerCmd) error {
	if b.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err // not sent: a done context never adds anything to the router
	}
	b.system.Root.Send(b.router, cmd)
	select {
	case err := <-cmd.replyChan():
		return err
	case <-b.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the router actor after it has handled every request sent before, closes every
// subscription's mailbox (counting queued messages as discarded) and makes later publishes and
// subscribes fail with ErrClosed. It returns ctx.Err() if ctx ends first.
func (b *Bus) Close(ctx context.Context) error {
	b.closeOnce.Do(func() {
		b.closed.Store(true)
		b.system.Root.Poison(b.router)
	})
	select {
	case <-b.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("bus: close: %w", ctx.Err())
	}
}
