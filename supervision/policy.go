// Package supervision holds the rules that decide what happens to a capsule after it exits:
// restart policies (permanent, transient, temporary), restart intensity (at most MaxRestarts
// within a window), exponential backoff with jitter, and what to do when the intensity is
// exceeded (stay failed, or escalate to the capsule's group). It also defines the run-loop
// watchdog's rule.
//
// The package is pure logic with an injectable clock; the actors package applies its decisions
// to protoactor-go actors (restart, stop, group restart) and publishes the resulting events.
package supervision

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Restart says which exits a capsule is restarted after (OTP semantics).
type Restart int

// Restart policies.
const (
	// Permanent capsules are always restarted, even after a normal exit.
	Permanent Restart = iota
	// Transient capsules are restarted only after a crash; a normal exit ends them.
	Transient
	// Temporary capsules are never restarted.
	Temporary
)

var restartNames = [...]string{"permanent", "transient", "temporary"}

// String returns the manifest spelling of the policy.
func (r Restart) String() string {
	if r >= 0 && int(r) < len(restartNames) {
		return restartNames[r]
	}
	return fmt.Sprintf("restart(%d)", int(r))
}

// ParseRestart parses "permanent", "transient" or "temporary".
func ParseRestart(s string) (Restart, error) {
	for i, n := range restartNames {
		if n == s {
			return Restart(i), nil
		}
	}
	return 0, fmt.Errorf("restart policy %q: want permanent, transient or temporary", s)
}

// OnFailure says what happens when a capsule exceeds its restart intensity.
type OnFailure int

// Reactions to an exceeded restart intensity.
const (
	// StayFailed marks the capsule failed; it stays down.
	StayFailed OnFailure = iota
	// Escalate fails the capsule's whole group: every member is stopped and marked failed.
	// A capsule without a group behaves as with StayFailed.
	Escalate
)

// String returns the manifest spelling.
func (o OnFailure) String() string {
	if o == Escalate {
		return "escalate"
	}
	return "stay-failed"
}

// ParseOnFailure parses "stay-failed" or "escalate".
func ParseOnFailure(s string) (OnFailure, error) {
	switch s {
	case "stay-failed":
		return StayFailed, nil
	case "escalate":
		return Escalate, nil
	}
	return 0, fmt.Errorf("on_failure %q: want stay-failed or escalate", s)
}

// Policy is the supervision policy of one capsule.
type Policy struct {
	Restart Restart
	// MaxRestarts restarts are allowed within Within; the next exit that would restart
	// exceeds the intensity.
	MaxRestarts int
	Within      time.Duration
	// BackoffInitial is the delay before the first restart in a window; each further restart
	// doubles it, up to BackoffMax. Zero restarts at once.
	BackoffInitial time.Duration
	BackoffMax     time.Duration
	// Jitter spreads each delay uniformly by ±Jitter (a fraction, 0 to 1).
	Jitter    float64
	OnFailure OnFailure
	// Group names the capsule's all-for-one group; empty means supervised alone.
	Group string
}

// Defaults of Policy.
const (
	DefaultMaxRestarts    = 5
	DefaultWithin         = 60 * time.Second
	DefaultBackoffInitial = 100 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
	DefaultJitter         = 0.2
)

// DefaultPolicy returns the runtime's default: permanent, 5 restarts within 60 s, backoff
// 100 ms doubling to 30 s with ±20 % jitter, then stay failed.
func DefaultPolicy() Policy {
	return Policy{
		Restart:        Permanent,
		MaxRestarts:    DefaultMaxRestarts,
		Within:         DefaultWithin,
		BackoffInitial: DefaultBackoffInitial,
		BackoffMax:     DefaultBackoffMax,
		Jitter:         DefaultJitter,
		OnFailure:      StayFailed,
	}
}

// Validate reports a policy that cannot be applied.
func (p Policy) Validate() error {
	var errs []error
	if p.MaxRestarts < 0 {
		errs = append(errs, fmt.Errorf("max_restarts %d is negative", p.MaxRestarts))
	}
	if p.Within <= 0 {
		errs = append(errs, fmt.Errorf("within %v must be positive", p.Within))
	}
	if p.BackoffInitial < 0 || p.BackoffMax < p.BackoffInitial {
		errs = append(errs, fmt.Errorf("backoff %v..%v: want 0 <= initial <= max", p.BackoffInitial, p.BackoffMax))
	}
	if p.Jitter < 0 || p.Jitter > 1 {
		errs = append(errs, fmt.Errorf("jitter %v: want 0..1", p.Jitter))
	}
	return errors.Join(errs...)
}

// Backoff returns the delay before restart number n (1-based) of the current window:
// BackoffInitial × 2^(n-1), capped at BackoffMax, spread by the jitter using rnd (a value in
// [0, 1); pass rand.Float64).
func (p Policy) Backoff(n int, rnd func() float64) time.Duration {
	if p.BackoffInitial <= 0 || n <= 0 {
		return 0
	}
	d := p.BackoffInitial
	for i := 1; i < n && d < p.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, p.BackoffMax)
	if p.Jitter > 0 {
		f := 1 + p.Jitter*(2*rnd()-1)
		d = time.Duration(float64(d) * f)
	}
	return d
}

// ExitKind says how an instance ended.
type ExitKind int

// Exit kinds.
const (
	// Crashed: a trap, a non-zero exit code, a failed instantiation, or the watchdog.
	Crashed ExitKind = iota
	// Normal: run returned or exited with code 0.
	Normal
)

// Action is what the supervisor does with an exited capsule.
type Action int

// Actions.
const (
	// RestartAfter restarts the capsule (or its group) after Decision.Backoff.
	RestartAfter Action = iota
	// End stops the capsule for good without failure (a normal exit that is not restarted,
	// or a temporary capsule).
	End
	// Fail stops the capsule and marks it failed: its restart intensity is exceeded.
	Fail
	// FailGroup stops every capsule of the group and marks them failed.
	FailGroup
)

// Decision is the outcome of Tracker.Decide.
type Decision struct {
	Action  Action
	Backoff time.Duration
	// Restarts is the number of restarts within the window including this one (for
	// RestartAfter), or the number that exceeded the intensity.
	Restarts int
}

// Tracker is the restart history of one capsule (or one group) under one policy. It is not
// safe for concurrent use: the supervising actor owns it.
type Tracker struct {
	policy   Policy
	now      func() time.Time
	rnd      func() float64
	restarts []time.Time
	total    int
}

// NewTracker returns a tracker for p. now and rnd may be nil (time.Now, rand.Float64).
func NewTracker(p Policy, now func() time.Time, rnd func() float64) *Tracker {
	if now == nil {
		now = time.Now
	}
	if rnd == nil {
		rnd = rand.Float64
	}
	return &Tracker{policy: p, now: now, rnd: rnd}
}

// Policy returns the tracker's policy.
func (t *Tracker) Policy() Policy { return t.policy }

// Total is the number of restarts decided over the tracker's life.
func (t *Tracker) Total() int { return t.total }

// Decide records an exit and returns what to do. Only RestartAfter counts as a restart.
func (t *Tracker) Decide(kind ExitKind) Decision {
	p := t.policy
	switch {
	case p.Restart == Temporary:
		return Decision{Action: End}
	case p.Restart == Transient && kind == Normal:
		return Decision{Action: End}
	}
	now := t.now()
	cut := now.Add(-p.Within)
	kept := t.restarts[:0]
	for _, r := range t.restarts {
		if r.After(cut) {
			kept = append(kept, r)
		}
	}
	t.restarts = kept
	if len(t.restarts) >= p.MaxRestarts {
		d := Decision{Action: Fail, Restarts: len(t.restarts)}
		if p.OnFailure == Escalate && p.Group != "" {
			d.Action = FailGroup
		}
		return d
	}
	t.restarts = append(t.restarts, now)
	t.total++
	n := len(t.restarts)
	return Decision{Action: RestartAfter, Backoff: p.Backoff(n, t.rnd), Restarts: n}
}

// Watchdog is the rule that stops a runaway run loop: an instance that has not called a
// yielding host function (recv, wait, poll, sleep) for Windows consecutive windows of Window
// is stopped as crashed. An instance blocked inside a yielding call is never runaway.
type Watchdog struct {
	Window  time.Duration
	Windows int
}

// Defaults of Watchdog: 3 windows of 5 s.
const (
	DefaultWatchdogWindow  = 5 * time.Second
	DefaultWatchdogWindows = 3
)

// DefaultWatchdog returns 3 × 5 s.
func DefaultWatchdog() Watchdog {
	return Watchdog{Window: DefaultWatchdogWindow, Windows: DefaultWatchdogWindows}
}

// Limit is how long an instance may go without yielding.
func (w Watchdog) Limit() time.Duration { return w.Window * time.Duration(w.Windows) }

// Runaway reports whether an instance that last yielded at lastYield, and is (or is not)
// inside a yielding call now, has run too long.
func (w Watchdog) Runaway(now, lastYield time.Time, yielding bool) bool {
	if yielding || w.Window <= 0 || w.Windows <= 0 {
		return false
	}
	return now.Sub(lastYield) >= w.Limit()
}
