// Package lifecycle is the vocabulary the capsule actor (internal/capsuleactor) and the
// supervisor actors (internal/supervisor) share with a capsule's handle (actors.Capsule): the
// changes of a capsule's life they report to it, which actors.Capsule applies as the one writer
// of its Status, and Exit, with which a capsule actor hands the end of an instance to its
// supervisor.
package lifecycle

import (
	"fmt"

	"github.com/google/uuid"

	"github.com/astrid-actors/astrid-actors/supervision"
)

// Change is one change of a capsule's life, reported to its handle by the actor that saw or
// decided it: the capsule actor reports its instances' progress (Starting to Ended, Stopping,
// ActorStopped), the supervisor its decisions (Restart, End, Fail).
type Change struct {
	Kind Kind
	// Instance is the instance the change is about (Starting to Ended); a change about an
	// instance that is no longer the current one is ignored.
	Instance uuid.UUID
	// Reason is the crash of Ended ("" for a normal exit) and the cause of Fail.
	Reason string
}

// Kind is what changed.
type Kind int

// Kinds of change.
const (
	Starting     Kind = iota // a new instance is being created
	Running                  // it is instantiated and initialised
	Ready                    // it signalled ready (a reactor: it is serving)
	Ended                    // it ended by itself; the supervisor decides next
	Restart                  // the supervisor restarts it after a backoff
	End                      // the supervisor lets it end (restart policy)
	Fail                     // the supervisor gave up on it (or its group)
	Stopping                 // the capsule actor is stopping
	ActorStopped             // the capsule actor stopped for good
)

// Exit is how a capsule actor hands the end of an instance to its supervisor: it panics with
// it, and the supervisor's strategy applies the capsule's policy.
type Exit struct {
	CapsuleID  string
	InstanceID uuid.UUID
	// Kind tells a crash from a normal exit.
	Kind supervision.ExitKind
	// Reason is a one-line description: "wasm error: unreachable", "exit code 3", ...
	Reason string
	// Err is the error returned by the guest call (nil for a normal return).
	Err error
	// Discarded counts messages that were still queued for the instance when it ended.
	Discarded uint64
}

// Error implements error.
func (e *Exit) Error() string {
	what := "crashed"
	if e.Kind == supervision.Normal {
		what = "exited"
	}
	return fmt.Sprintf("capsule %s instance %s %s: %s", e.CapsuleID, e.InstanceID, what, e.Reason)
}

// Unwrap returns the guest call's error.
func (e *Exit) Unwrap() error { return e.Err }
