package hostfuncs

import (
	"sync"
	"time"

	"github.com/astrid-actors/astrid-actors/bus"
)

// rateLimiter is a fixed window per principal, as in Astrid: the window starts at the first
// publish after the previous one expired, and within it a principal may publish at most
// bytes payload bytes and messages messages. It belongs to the capsule (Shared), not to one
// instance, so a restarted capsule continues with the budget its previous instance left.
// Unlike Astrid it is charged only for publishes that passed every other check, so rejected
// publishes cost nothing.
type rateLimiter struct {
	bytes, messages int
	length          time.Duration

	mu        sync.Mutex
	windows   map[bus.Principal]*window
	last      *window // the window of the previous call: most capsules publish as one principal
	lastPrune time.Time
}

type window struct {
	principal bus.Principal
	start     time.Time
	bytes     int
	messages  int
}

const (
	pruneThreshold = 1000
	pruneInterval  = time.Minute
)

// newRateLimiter returns the publish limiter for the budgets of l (defaults applied).
func newRateLimiter(l Limits) *rateLimiter {
	l = l.withDefaults()
	return newWindowLimiter(l.ThroughputBytesPerSec, l.ThroughputMessagesPerSec, l.RateWindow)
}

// newLogLimiter returns the sys log limiter for the budgets of l (defaults applied): one
// window of one second for the whole capsule.
func newLogLimiter(l Limits) *rateLimiter {
	l = l.withDefaults()
	return newWindowLimiter(l.LogBytesPerSec, l.LogLinesPerSec, time.Second)
}

// newWindowLimiter returns a limiter of bytesPerSec and messagesPerSec, scaled to windows of
// length.
func newWindowLimiter(bytesPerSec, messagesPerSec int, length time.Duration) *rateLimiter {
	scale := func(perSec int) int {
		n := float64(perSec) * length.Seconds()
		if n >= float64(maxInt) {
			return maxInt
		}
		return max(int(n), 1)
	}
	return &rateLimiter{
		bytes:    scale(bytesPerSec),
		messages: scale(messagesPerSec),
		length:   length,
		windows:  make(map[bus.Principal]*window),
	}
}

const maxInt = int(^uint(0) >> 1)

// reserve reports whether one more message of n bytes fits p's window at now, without
// charging it; charge the returned window with charge once the publish was accepted.
func (r *rateLimiter) reserve(p bus.Principal, n int, now time.Time) (*window, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.current(p, now)
	return w, w.messages < r.messages && n <= r.bytes-w.bytes
}

// charge adds one message of n bytes to the window reserve returned.
func (r *rateLimiter) charge(w *window, n int) {
	r.mu.Lock()
	w.bytes += n
	w.messages++
	r.mu.Unlock()
}

func (r *rateLimiter) current(p bus.Principal, now time.Time) *window {
	w := r.last
	if w == nil || w.principal != p {
		w = r.windows[p]
	}
	if w == nil {
		r.prune(now)
		w = &window{principal: p, start: now}
		r.windows[p] = w
	} else if now.Sub(w.start) >= r.length {
		w.start, w.bytes, w.messages = now, 0, 0
	}
	r.last = w
	return w
}

// prune drops expired windows when many principals have been seen.
func (r *rateLimiter) prune(now time.Time) {
	if len(r.windows) < pruneThreshold || now.Sub(r.lastPrune) < pruneInterval {
		return
	}
	r.lastPrune = now
	for p, w := range r.windows {
		if now.Sub(w.start) >= r.length {
			delete(r.windows, p)
			if r.last == w {
				r.last = nil
			}
		}
	}
}
