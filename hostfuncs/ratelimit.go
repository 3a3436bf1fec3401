package hostfuncs

import (
	"sync"
	"time"

	"github.com/astrid-actors/astrid-actors/bus"
)

// rateLimiter is a fixed one-second window per principal (the instance is implicit: each
// instance has its own limiter), as in Astrid: the window starts at the first publish after
// the previous one expired. Unlike Astrid it is charged only for publishes that passed every
// other check, so rejected publishes cost nothing.
type rateLimiter struct {
	capacity int

	mu        sync.Mutex
	windows   map[bus.Principal]*window
	last      *window // the window of the previous call: most instances publish as one principal
	lastPrune time.Time
}

type window struct {
	principal bus.Principal
	start     time.Time
	bytes     int
}

const (
	rateWindow     = time.Second
	pruneThreshold = 1000
	pruneInterval  = time.Minute
)

func newRateLimiter(capacity int) *rateLimiter {
	return &rateLimiter{capacity: capacity, windows: make(map[bus.Principal]*window)}
}

// reserve reports whether n more bytes fit p's window at now, without charging them; charge
// the returned window with charge once the publish was accepted.
func (r *rateLimiter) reserve(p bus.Principal, n int, now time.Time) (*window, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.current(p, now)
	return w, w.bytes+n <= r.capacity
}

// charge adds n bytes to the window reserve returned.
func (r *rateLimiter) charge(w *window, n int) {
	r.mu.Lock()
	w.bytes += n
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
	} else if now.Sub(w.start) >= rateWindow {
		w.start, w.bytes = now, 0
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
		if now.Sub(w.start) >= rateWindow {
			delete(r.windows, p)
			if r.last == w {
				r.last = nil
			}
		}
	}
}
