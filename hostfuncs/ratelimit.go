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
	epoch     uint64 // incremented when the window restarts
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

// charge is what admit charged to a window; refund gives it back.
type charge struct {
	w     *window
	epoch uint64 // the window's epoch when charged
	bytes int
}

// admit charges one message of n bytes to p's window at now if it fits, and reports whether it
// did. The check and the charge are one critical section, so concurrent instances of a capsule
// never exceed the budget together. A publish that a later check refuses gives the charge back
// with refund, so in the end only accepted publishes are charged; meanwhile a concurrent
// publish of the same capsule may find the window fuller than it will be, never emptier.
func (r *rateLimiter) admit(p bus.Principal, n int, now time.Time) (charge, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.current(p, now)
	if w.messages >= r.messages || n > r.bytes-w.bytes {
		return charge{}, false
	}
	w.bytes += n
	w.messages++
	return charge{w: w, epoch: w.epoch, bytes: n}, true
}

// refund takes back a charge of admit, unless its window has expired since (the new window
// never held it).
func (r *rateLimiter) refund(c charge) {
	r.mu.Lock()
	if c.w.epoch == c.epoch {
		c.w.bytes -= c.bytes
		c.w.messages--
	}
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
		w.epoch++
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
