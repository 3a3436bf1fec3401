package lifecycle

import (
	"errors"
	"testing"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/astrid-actors/astrid-actors/internal/leakcheck"
	"github.com/astrid-actors/astrid-actors/supervision"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakcheck.Options()...)
}

// An Exit says in one line which instance of which capsule ended and how, and unwraps to the
// guest call's error.
func TestExit(t *testing.T) {
	id := uuid.MustParse("00000000-0000-4000-8000-000000000001")
	trap := errors.New("wasm error: unreachable")
	for _, tc := range []struct {
		exit *Exit
		want string
	}{
		{&Exit{CapsuleID: "c", InstanceID: id, Kind: supervision.Crashed, Reason: "wasm error: unreachable", Err: trap},
			"capsule c instance 00000000-0000-4000-8000-000000000001 crashed: wasm error: unreachable"},
		{&Exit{CapsuleID: "c", InstanceID: id, Kind: supervision.Normal, Reason: "run returned"},
			"capsule c instance 00000000-0000-4000-8000-000000000001 exited: run returned"},
	} {
		if got := tc.exit.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
		if !errors.Is(tc.exit, trap) != (tc.exit.Err == nil) {
			t.Errorf("errors.Is(%v, trap) = %v", tc.exit, errors.Is(tc.exit, trap))
		}
	}
}
