package hostfuncs

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/kv"
)

// Grants are what a capsule's manifest allows it on the bus.
type Grants struct {
	// Publish are the publish ACL keys (route patterns). Empty denies every publish.
	Publish []string
	// Subscribe are the subscribe ACL keys. Empty denies every subscribe.
	Subscribe []string
	// Uplink allows publish-as.
	Uplink bool
}

// Limits bound one capsule instance's use of the bus. Zero fields take the defaults.
type Limits struct {
	// MaxSubscriptions is the number of live subscriptions (default abi.MaxSubscriptions).
	MaxSubscriptions int
	// ThroughputBytesPerSec is the publish budget in payload bytes per second per (capsule,
	// principal) (default DefaultThroughputBytesPerSec).
	ThroughputBytesPerSec int
	// ThroughputMessagesPerSec is the publish budget in messages per second per (capsule,
	// principal) (default DefaultThroughputMessagesPerSec).
	ThroughputMessagesPerSec int
	// RateWindow is the length of the rate limiter's fixed window (default DefaultRateWindow);
	// the per-second budgets are scaled to it (a 2 s window allows twice the bytes and
	// messages, and at least one message).
	RateWindow time.Duration
	// LogLinesPerSec and LogBytesPerSec bound what sys log and the guest's WASI stdout and
	// stderr (Instance.AdmitOutput) write per capsule and second, together (defaults
	// DefaultLogLinesPerSec, DefaultLogBytesPerSec); lines over the budget are not written, and
	// are counted and audited as refused (rate-limited) calls.
	LogLinesPerSec int
	LogBytesPerSec int
	// Mailbox are the limits of the instance's subscription mailboxes (zero: the bus defaults).
	Mailbox bus.MailboxLimits
}

// Default publish budgets per (capsule, principal).
const (
	// DefaultThroughputBytesPerSec is 10 MiB of payload per second.
	DefaultThroughputBytesPerSec = 10 << 20
	// DefaultThroughputMessagesPerSec is 10 000 messages per second.
	DefaultThroughputMessagesPerSec = 10_000
	// DefaultRateWindow is the rate limiter's window: one second, as in Astrid.
	DefaultRateWindow = time.Second
	// DefaultLogLinesPerSec is the sys log budget in lines per second per capsule.
	DefaultLogLinesPerSec = 100
	// DefaultLogBytesPerSec is the sys log budget in message bytes per second per capsule:
	// four messages of the largest size (MaxLogBytes).
	DefaultLogBytesPerSec = 256 << 10
)

func (l Limits) withDefaults() Limits {
	if l.MaxSubscriptions <= 0 {
		l.MaxSubscriptions = abi.MaxSubscriptions
	}
	if l.ThroughputBytesPerSec <= 0 {
		l.ThroughputBytesPerSec = DefaultThroughputBytesPerSec
	}
	if l.ThroughputMessagesPerSec <= 0 {
		l.ThroughputMessagesPerSec = DefaultThroughputMessagesPerSec
	}
	if l.RateWindow <= 0 {
		l.RateWindow = DefaultRateWindow
	}
	if l.LogLinesPerSec <= 0 {
		l.LogLinesPerSec = DefaultLogLinesPerSec
	}
	if l.LogBytesPerSec <= 0 {
		l.LogBytesPerSec = DefaultLogBytesPerSec
	}
	return l
}

// Config describes one capsule instance to the host functions.
type Config struct {
	// CapsuleID is the manifest's package name.
	CapsuleID string
	// InstanceID is this instance's UUID: the source id of everything it publishes.
	InstanceID uuid.UUID
	// Owner is the principal the capsule runs as when it handles no message ("default" when
	// empty).
	Owner string
	// Grants and Limits come from the manifest.
	Grants Grants
	Limits Limits
	// Shared is the state the capsule's instances share, one after another: the rate
	// limiter's budget and the refused-call counters (NewShared). Nil gives the instance a
	// private one made from Limits.
	Shared *Shared
	// Config are the [env] values served by get-config.
	Config map[string]string
	// Bindings are the capsule's interceptor bindings, served by get-interceptor-bindings.
	Bindings []abi.Binding
	// Bus is where the instance publishes and subscribes.
	Bus *bus.Bus
	// Ledger, when set, sums the counters of the instance's subscriptions (the runtime passes
	// the capsule's, shared by all its instances). Nil: each subscription counts alone.
	Ledger *bus.Ledger
	// Logger is the capsule's logger: sys log lines go here. Nil discards.
	Logger *zap.Logger
	// Audit receives one line per ipc call; it should be named "astrid.audit.ipc". Nil means
	// Logger.Named("astrid.audit.ipc").
	Audit *zap.Logger
	// Epoch is the zero of clock-monotonic-ns (the runtime's start).
	Epoch time.Time
	// OnReady is called once when the guest calls signal-ready. May be nil.
	OnReady func()
	// Observe, when set, is called after every host call with the function's name
	// ("publish", "subscription-recv", ...) and how long it took (for metrics).
	Observe func(fn string, d time.Duration)
	// KV is the durable store behind astrid:kv@1.0.0; nil makes every kv call unknown.
	KV kv.Store
	// KVQuotaBytes caps each of the capsule's namespaces (0: kv.DefaultQuotaBytes).
	KVQuotaBytes int64
}

// DefaultOwner is the principal capsules run as unless configured otherwise.
const DefaultOwner = "default"

// Instance is the host-side state of one capsule instance. Host functions find it in the
// context of the guest call (WithInstance). Guest calls into one instance are sequential, but
// Release and the accessors may be called from other goroutines, so the state is guarded.
type Instance struct {
	cfg     Config
	log     *zap.Logger
	audit   *zap.Logger
	shared  *Shared
	limiter *rateLimiter

	mu       sync.Mutex
	handles  map[uint32]*bus.Subscription
	released bool

	// caller is the message being handled: an atomic pointer rather than a field under mu, as
	// every publish reads it.
	caller atomic.Pointer[bus.Message]

	readyOnce sync.Once
	lastYield atomic.Int64 // unix nanos of the last yielding host call
	inYield   atomic.Int32 // > 0 while the guest is inside a yielding host call

	counters struct{ published, delivered, dropped atomic.Uint64 }

	// state of the guest's call goroutine (guest calls into one instance are sequential)
	drainBuf  []*bus.Message
	carried   map[*bus.Subscription]carriedCounts // counts a too-small buffer could not report
	lastTopic string                              // the last published topic that passed validation and the ACL
	pub       *bus.Publisher                      // the instance's match cache on cfg.Bus (nil without a bus)
	views     viewCache                           // the guest memory view of the last host call

	// heldCaller is the caller deliver installed, whose reference it holds until the next
	// batch (releaseDelivered); also on the guest's call goroutine.
	heldCaller *bus.Message
}

// NewInstance returns the host state of one capsule instance.
func NewInstance(cfg Config) *Instance {
	if cfg.Owner == "" {
		cfg.Owner = DefaultOwner
	}
	cfg.Limits = cfg.Limits.withDefaults()
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Epoch.IsZero() {
		cfg.Epoch = time.Now()
	}
	if cfg.Audit == nil {
		cfg.Audit = cfg.Logger.Named("astrid.audit.ipc")
	}
	fields := []zap.Field{zap.String("capsule_id", cfg.CapsuleID), zap.Stringer("instance_id", cfg.InstanceID)}
	if cfg.Shared == nil {
		cfg.Shared = NewShared(cfg.Limits, SharedOptions{})
	}
	in := &Instance{
		cfg:     cfg,
		log:     cfg.Logger.With(fields...),
		audit:   cfg.Audit.With(fields...),
		shared:  cfg.Shared,
		limiter: cfg.Shared.limiter,
		handles: make(map[uint32]*bus.Subscription),
	}
	if cfg.Bus != nil {
		in.pub = cfg.Bus.NewPublisher()
	}
	in.lastYield.Store(time.Now().UnixNano())
	return in
}

// CapsuleID returns the capsule id.
func (in *Instance) CapsuleID() string { return in.cfg.CapsuleID }

// InstanceID returns the instance UUID.
func (in *Instance) InstanceID() uuid.UUID { return in.cfg.InstanceID }

// Counters are the traffic of one instance.
type Counters struct {
	// Published counts accepted publishes (publish and publish-as).
	Published uint64
	// Delivered counts messages written into the guest's envelopes.
	Delivered uint64
	// Dropped counts messages reported to the guest as dropped (the envelopes' dropped
	// fields).
	Dropped uint64
}

// Counters returns the instance's traffic so far.
func (in *Instance) Counters() Counters {
	return Counters{
		Published: in.counters.published.Load(),
		Delivered: in.counters.delivered.Load(),
		Dropped:   in.counters.dropped.Load(),
	}
}

// Subscriptions returns the number of live subscriptions.
func (in *Instance) Subscriptions() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.handles)
}

// LastYield returns when the guest last called a yielding host function (recv, wait, poll,
// sleep-ns), or when the instance was created.
func (in *Instance) LastYield() time.Time { return time.Unix(0, in.lastYield.Load()) }

func (in *Instance) yielded() { in.lastYield.Store(time.Now().UnixNano()) }

// Yielding reports whether the guest is inside a yielding host call (a blocking recv or wait,
// a sleep) right now. The watchdog never counts such time as running.
func (in *Instance) Yielding() bool { return in.inYield.Load() > 0 }

// BeginYield marks the start of a yielding call made outside this package (e.g. a WASI sleep);
// pair it with EndYield.
func (in *Instance) BeginYield() {
	in.inYield.Add(1)
	in.yielded()
}

// EndYield marks the end of a yielding call.
func (in *Instance) EndYield() {
	in.yielded()
	in.inYield.Add(-1)
}

// SetCaller installs msg as the message the capsule is handling (nil clears it). Publishes
// then carry msg's principal, and get-caller describes it.
func (in *Instance) SetCaller(msg *bus.Message) { in.caller.Store(msg) }

// Caller returns the message the capsule is handling, or nil.
func (in *Instance) Caller() *bus.Message { return in.caller.Load() }

// ReleaseStats describe what Release closed.
type ReleaseStats struct {
	// Subscriptions is the number of subscriptions closed.
	Subscriptions int
	// Discarded is the number of queued messages discarded (and counted) with them, read
	// atomically with the close of each mailbox.
	Discarded uint64
}

// Release closes every subscription of the instance, counting their queued messages as
// discarded, and makes later subscribe calls fail with closed. Call it after the guest's last
// call returned. It is idempotent.
func (in *Instance) Release(ctx context.Context) ReleaseStats {
	in.mu.Lock()
	subs := in.handles
	in.handles = map[uint32]*bus.Subscription{}
	in.released = true
	in.mu.Unlock()
	var st ReleaseStats
	for _, s := range subs {
		if s == nil { // a subscribe still in flight; it sees released and closes its own
			continue
		}
		// Closing the mailbox first counts what it held in the same step (a concurrent push
		// is either in that count or a discarded late push); then the bus forgets it.
		discarded := s.Mailbox().Close()
		if err := s.Close(ctx); err != nil {
			in.log.Warn("release subscription", zap.String("pattern", s.Pattern()), zap.Error(err))
		}
		st.Subscriptions++
		st.Discarded += uint64(discarded)
	}
	in.FlushAudit()
	return st
}

// lastHandle numbers subscription handles across every instance of the process, so a handle
// number taken from another capsule never names a subscription of this one (it gets closed).
var lastHandle atomic.Uint32

// newHandle returns a handle number that no live instance uses: never 0, never reused until
// the 32-bit counter wraps.
func newHandle() uint32 {
	for {
		if h := lastHandle.Add(1); h != 0 {
			return h
		}
	}
}

type instanceKey struct{}

// WithInstance returns a context carrying in; pass it to every guest call of the instance.
func WithInstance(ctx context.Context, in *Instance) context.Context {
	return context.WithValue(ctx, instanceKey{}, in)
}

// InstanceFrom returns the instance carried by ctx, or nil.
func InstanceFrom(ctx context.Context) *Instance {
	in, _ := ctx.Value(instanceKey{}).(*Instance)
	return in
}

// carriedCounts are a subscription's dropped and lagged counts that an envelope could not report
// because the guest's buffer was smaller than the header; the next envelope reports them.
type carriedCounts struct{ dropped, lagged uint64 }
