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
	now      func() time.Time

	mu        sync.Mutex
	windows   map[bus.Principal]*window
	lastPrune time.Time
}

type window struct {
	start time.Time
	bytes int
}

const (
	rateWindow     = time.Second
	pruneThreshold = 1000
	pruneInterval  = time.Minute
)

func newRateLimiter(capacity int) *rateLimiter {
	return &rateLimiter{capacity: capacity, now: time.Now, windows: make(map[bus.Principal]*window)}
}

// allows reports whether n more bytes fit p's current window, without charging them.
func (r *rateLimiter) allows(p bus.Principal, n int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.current(p)
	return w.bytes+n <= r.capacity
}

// charge adds n bytes to p's current window.
func (r *rateLimiter) charge(p bus.Principal, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.current(p).bytes += n
}

func (r *rateLimiter) current(p bus.Principal) *window {
	now := r.now()
	w := r.windows[p]
	if w == nil {
		r.prune(now)
		w = &window{start: now}
		r.windows[p] = w
	} else if now.Sub(w.start) >= rateWindow {
		w.start, w.bytes = now, 0
	}
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
		}
	}
}
