package supervision

import (
	"testing"
	"time"
)

func TestBackoffGrowsAndCaps(t *testing.T) {
	p := Policy{BackoffInitial: 100 * time.Millisecond, BackoffMax: time.Second}
	mid := func() float64 { return 0.5 } // no jitter effect
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if got := p.Backoff(i+1, mid); got != w*time.Millisecond {
			t.Errorf("Backoff(%d) = %v, want %v", i+1, got, w*time.Millisecond)
		}
	}
	if got := p.Backoff(0, mid); got != 0 {
		t.Errorf("Backoff(0) = %v", got)
	}
	p.Jitter = 0.2
	lo, hi := p.Backoff(1, func() float64 { return 0 }), p.Backoff(1, func() float64 { return 0.999999 })
	if lo != 80*time.Millisecond || hi < 119*time.Millisecond || hi > 120*time.Millisecond {
		t.Errorf("jitter range %v..%v, want 80ms..120ms", lo, hi)
	}
	if got := (Policy{BackoffMax: time.Second}).Backoff(3, mid); got != 0 {
		t.Errorf("zero initial backoff = %v", got)
	}
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestTrackerIntensity(t *testing.T) {
	tests := []struct {
		name    string
		policy  Policy
		exits   []time.Duration // delay before each exit
		kind    ExitKind
		actions []Action
	}{
		{
			name:    "crash loop fails after exactly max restarts",
			policy:  Policy{Restart: Permanent, MaxRestarts: 3, Within: time.Minute},
			exits:   []time.Duration{0, 0, 0, 0, 0},
			kind:    Crashed,
			actions: []Action{RestartAfter, RestartAfter, RestartAfter, Fail, Fail},
		},
		{
			name:    "crashes slower than the window keep restarting",
			policy:  Policy{Restart: Permanent, MaxRestarts: 2, Within: time.Second},
			exits:   []time.Duration{0, 600 * time.Millisecond, 600 * time.Millisecond, 600 * time.Millisecond, 600 * time.Millisecond},
			kind:    Crashed,
			actions: []Action{RestartAfter, RestartAfter, RestartAfter, RestartAfter, RestartAfter},
		},
		{
			name:    "zero max restarts fails at once",
			policy:  Policy{Restart: Permanent, MaxRestarts: 0, Within: time.Minute},
			exits:   []time.Duration{0},
			kind:    Crashed,
			actions: []Action{Fail},
		},
		{
			name:    "transient normal exit ends",
			policy:  Policy{Restart: Transient, MaxRestarts: 5, Within: time.Minute},
			exits:   []time.Duration{0},
			kind:    Normal,
			actions: []Action{End},
		},
		{
			name:    "transient crash restarts",
			policy:  Policy{Restart: Transient, MaxRestarts: 5, Within: time.Minute},
			exits:   []time.Duration{0},
			kind:    Crashed,
			actions: []Action{RestartAfter},
		},
		{
			name:    "permanent normal exit restarts",
			policy:  Policy{Restart: Permanent, MaxRestarts: 5, Within: time.Minute},
			exits:   []time.Duration{0},
			kind:    Normal,
			actions: []Action{RestartAfter},
		},
		{
			name:    "temporary never restarts",
			policy:  Policy{Restart: Temporary, MaxRestarts: 5, Within: time.Minute},
			exits:   []time.Duration{0, 0},
			kind:    Crashed,
			actions: []Action{End, End},
		},
		{
			name:    "escalate in a group fails the group",
			policy:  Policy{Restart: Permanent, MaxRestarts: 1, Within: time.Minute, OnFailure: Escalate, Group: "g"},
			exits:   []time.Duration{0, 0},
			kind:    Crashed,
			actions: []Action{RestartAfter, FailGroup},
		},
		{
			name:    "escalate without a group stays failed",
			policy:  Policy{Restart: Permanent, MaxRestarts: 0, Within: time.Minute, OnFailure: Escalate},
			exits:   []time.Duration{0},
			kind:    Crashed,
			actions: []Action{Fail},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Unix(1000, 0)}
			tr := NewTracker(tt.policy, clock.now, func() float64 { return 0.5 })
			for i, d := range tt.exits {
				clock.advance(d)
				if got := tr.Decide(tt.kind).Action; got != tt.actions[i] {
					t.Fatalf("exit %d: action %v, want %v", i, got, tt.actions[i])
				}
			}
		})
	}
}

func TestTrackerBackoffFollowsRestartsInWindow(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	p := Policy{Restart: Permanent, MaxRestarts: 10, Within: time.Minute, BackoffInitial: 100 * time.Millisecond, BackoffMax: 30 * time.Second}
	tr := NewTracker(p, clock.now, func() float64 { return 0.5 })
	var got []time.Duration
	for range 4 {
		got = append(got, tr.Decide(Crashed).Backoff)
	}
	clock.advance(2 * time.Minute) // the window forgets: backoff starts over
	got = append(got, tr.Decide(Crashed).Backoff)
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, 100 * time.Millisecond}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("backoffs %v, want %v", got, want)
		}
	}
	if tr.Total() != 5 {
		t.Fatalf("total %d", tr.Total())
	}
}

func TestWatchdog(t *testing.T) {
	w := Watchdog{Window: 5 * time.Second, Windows: 3}
	now := time.Unix(100, 0)
	tests := []struct {
		sinceYield time.Duration
		yielding   bool
		want       bool
	}{
		{14 * time.Second, false, false},
		{15 * time.Second, false, true},
		{time.Hour, true, false}, // sleeping or blocked in recv is yielding
	}
	for _, tt := range tests {
		if got := w.Runaway(now, now.Add(-tt.sinceYield), tt.yielding); got != tt.want {
			t.Errorf("Runaway(%v, yielding=%v) = %v", tt.sinceYield, tt.yielding, got)
		}
	}
	if (Watchdog{}).Runaway(now, time.Time{}, false) {
		t.Error("a disabled watchdog fired")
	}
}

func TestParseAndValidate(t *testing.T) {
	for _, s := range []string{"permanent", "transient", "temporary"} {
		r, err := ParseRestart(s)
		if err != nil || r.String() != s {
			t.Errorf("ParseRestart(%q) = %v, %v", s, r, err)
		}
	}
	if _, err := ParseRestart("always"); err == nil {
		t.Error("ParseRestart accepted always")
	}
	for _, s := range []string{"stay-failed", "escalate"} {
		o, err := ParseOnFailure(s)
		if err != nil || o.String() != s {
			t.Errorf("ParseOnFailure(%q) = %v, %v", s, o, err)
		}
	}
	if err := DefaultPolicy().Validate(); err != nil {
		t.Errorf("default policy invalid: %v", err)
	}
	bad := Policy{MaxRestarts: -1, Within: 0, BackoffInitial: time.Second, BackoffMax: time.Millisecond, Jitter: 2}
	if err := bad.Validate(); err == nil {
		t.Error("bad policy validated")
	}
}
