package hostfuncs

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/bus"
)

// DefaultAuditInterval is the interval per which refused calls are aggregated in the audit log.
const DefaultAuditInterval = time.Second

// SharedOptions configure a Shared. Zero fields take the defaults.
type SharedOptions struct {
	// Now is the clock of the rate windows and of the audit intervals. Nil means the clock
	// reading the bus takes for each publish (the message's timestamp) for the rate windows,
	// and time.Now for the audit intervals. Tests inject a clock here instead of sleeping.
	Now func() time.Time
	// AuditInterval is the interval per which refused calls are aggregated (default
	// DefaultAuditInterval).
	AuditInterval time.Duration
}

// Shared is the host state that belongs to a capsule rather than to one of its instances: the
// rate limiter's budget, the sys log budget and the counters of refused calls. The actors layer makes one per
// capsule and hands it to every instance it starts (Config.Shared), so a crash-looping capsule
// does not get a fresh budget with each restart and no refusal is forgotten. Instances of one
// capsule may use it concurrently.
type Shared struct {
	limiter  *rateLimiter
	logs     *rateLimiter // sys log budget (one window, keyed by the system principal)
	now      func() time.Time
	interval time.Duration

	mu       sync.Mutex
	refusals map[refusalKey]*refusalStat
}

type refusalKey struct {
	fn   string
	code abi.Code
}

type refusalStat struct {
	total      uint64    // every refusal, for the metrics
	start      time.Time // start of the current audit interval; zero before the first refusal
	suppressed uint64    // refusals of the current interval not written as their own line
}

// NewShared returns the capsule-level state for instances with these limits (the rate
// limiter's budgets come from limits; zero fields take the defaults).
func NewShared(limits Limits, opts SharedOptions) *Shared {
	if opts.AuditInterval <= 0 {
		opts.AuditInterval = DefaultAuditInterval
	}
	return &Shared{
		limiter:  newRateLimiter(limits),
		logs:     newLogLimiter(limits),
		now:      opts.Now,
		interval: opts.AuditInterval,
		refusals: make(map[refusalKey]*refusalStat),
	}
}

// Refusal is the number of calls of one host function refused with one code.
type Refusal struct {
	// Fn is the audit name of the function, e.g. "astrid:ipc/publish".
	Fn string
	// Code is the error returned.
	Code abi.Code
	// Count is the number of such calls since the Shared was made (over every instance).
	Count uint64
}

// Refused returns the exact counts of refused calls, by function and code, sorted.
func (s *Shared) Refused() []Refusal {
	s.mu.Lock()
	out := make([]Refusal, 0, len(s.refusals))
	for k, st := range s.refusals {
		out = append(out, Refusal{Fn: k.fn, Code: k.code, Count: st.total})
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Refusal) int {
		return cmp.Or(cmp.Compare(a.Fn, b.Fn), cmp.Compare(a.Code, b.Code))
	})
	return out
}

// auditNow is the clock of the audit intervals.
func (s *Shared) auditNow() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// rateNow is the clock of the rate windows, given the bus's reading for the publish.
func (s *Shared) rateNow(busNow time.Time) time.Time {
	if s.now != nil {
		return s.now()
	}
	return busNow
}

// refused counts one refused call and reports whether it is the first of its (function, code)
// in the current audit interval — then it gets a line of its own — and how many refusals of the
// previous interval were not written (to be summarised first).
func (s *Shared) refused(k refusalKey, now time.Time) (first bool, previous uint64, since time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.refusals[k]
	if st == nil {
		st = &refusalStat{}
		s.refusals[k] = st
	}
	st.total++
	if !st.start.IsZero() && now.Sub(st.start) < s.interval {
		st.suppressed++
		return false, 0, time.Time{}
	}
	previous, since = st.suppressed, st.start
	st.start, st.suppressed = now, 0
	return true, previous, since
}

// takeSuppressed returns and resets every count of refusals not yet written.
func (s *Shared) takeSuppressed() map[refusalKey]suppressed {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out map[refusalKey]suppressed
	for k, st := range s.refusals {
		if st.suppressed == 0 {
			continue
		}
		if out == nil {
			out = make(map[refusalKey]suppressed)
		}
		out[k] = suppressed{n: st.suppressed, since: st.start}
		st.suppressed = 0
	}
	return out
}

type suppressed struct {
	n     uint64
	since time.Time
}

// auditLevel is the level of a refused call's audit lines: info for security events (a denied
// capability, a rate limit, a quota), debug for the rest.
func auditLevel(c abi.Code) zapcore.Level {
	if securityEvent(c) {
		return zapcore.InfoLevel
	}
	return zapcore.DebugLevel
}

// auditRefusal audits a refused call: the first of its (function, code) in an interval gets
// its own line; the others are counted and written as one summary line with their number
// ("repeated") when the next interval starts or the instance is released. Every refusal is
// counted exactly in Shared.Refused, whether a line is written or not.
func (in *Instance) auditRefusal(fn string, p bus.Principal, topic string, code abi.Code) {
	k := refusalKey{fn, code}
	first, previous, since := in.shared.refused(k, in.shared.auditNow())
	if !first {
		return
	}
	level := auditLevel(code)
	if previous > 0 {
		in.writeSummary(level, k, suppressed{n: previous, since: since})
	}
	ce := in.audit.Check(level, "audit")
	if ce == nil {
		return
	}
	fields := []zap.Field{zap.String("fn", fn), zap.Stringer("principal", p), zap.String("topic", topic),
		zap.Stringer("error", code)}
	if securityEvent(code) {
		fields = append(fields, zap.Bool("security_event", true))
	}
	ce.Write(fields...)
}

func (in *Instance) writeSummary(level zapcore.Level, k refusalKey, s suppressed) {
	ce := in.audit.Check(level, "audit")
	if ce == nil {
		return
	}
	fields := []zap.Field{zap.String("fn", k.fn), zap.Stringer("error", k.code), zap.Uint64("repeated", s.n),
		zap.Time("since", s.since), zap.Duration("interval", in.shared.interval)}
	if securityEvent(k.code) {
		fields = append(fields, zap.Bool("security_event", true))
	}
	ce.Write(fields...)
}

// FlushAudit writes the summary lines of the refusals not yet written (Release calls it, so an
// instance's last interval is not left unreported).
func (in *Instance) FlushAudit() {
	for k, s := range in.shared.takeSuppressed() {
		in.writeSummary(auditLevel(k.code), k, s)
	}
}
