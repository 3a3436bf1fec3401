package hostfuncs

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/astrid-actors/astrid-actors/bus"
)

// Admission and charge are one step: goroutines racing for the last messages of a window
// (instances of one capsule share its limiter) are admitted exactly the budget, never more.
func TestRateLimiterAdmitsExactlyTheBudgetConcurrently(t *testing.T) {
	const budget = 1000
	r := newRateLimiter(Limits{ThroughputMessagesPerSec: budget, ThroughputBytesPerSec: 1 << 30})
	now := time.Unix(1e9, 0)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range budget {
				if _, ok := r.admit(bus.Verified("p"), 1, now); ok {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if got := admitted.Load(); got != budget {
		t.Fatalf("admitted %d messages, budget %d", got, budget)
	}
}

func TestRateLimiterRefund(t *testing.T) {
	r := newRateLimiter(Limits{ThroughputMessagesPerSec: 2, ThroughputBytesPerSec: 10})
	p, now := bus.Verified("p"), time.Unix(1e9, 0)
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"a refund gives the message and its bytes back", func(t *testing.T) {
			c, ok := r.admit(p, 10, now)
			if !ok {
				t.Fatal("first message refused")
			}
			if _, ok := r.admit(p, 1, now); ok {
				t.Fatal("bytes over the budget admitted")
			}
			r.refund(c)
			for i := range 2 {
				if _, ok := r.admit(p, 5, now); !ok {
					t.Fatalf("message %d after the refund refused", i)
				}
			}
			if _, ok := r.admit(p, 0, now); ok {
				t.Fatal("third message admitted")
			}
		}},
		{"a refund after the window expired leaves the new window alone", func(t *testing.T) {
			now = now.Add(time.Second)
			c, ok := r.admit(p, 5, now)
			if !ok {
				t.Fatal("message of the new window refused")
			}
			now = now.Add(time.Second)
			if _, ok := r.admit(p, 5, now); !ok { // starts the next window
				t.Fatal("first message of the next window refused")
			}
			r.refund(c) // belongs to the expired window: no effect
			if _, ok := r.admit(p, 5, now); !ok {
				t.Fatal("second message of the next window refused")
			}
			if _, ok := r.admit(p, 0, now); ok {
				t.Fatal("the refund of the expired window was credited to the new one")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}
