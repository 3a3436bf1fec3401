package capsuleactor

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/tetratelabs/wazero/sys"
	"go.uber.org/goleak"

	"github.com/astrid-actors/astrid-actors/internal/leakcheck"
	"github.com/astrid-actors/astrid-actors/supervision"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakcheck.Options()...)
}

// classifyExit tells a normal end from a crash and says what happened in one line (the
// supervisor applies the policy to the kind; events and Status.LastError carry the reason).
// The capsules behind each case run in package actors' tests (TestExitCodes and others).
func TestClassifyExit(t *testing.T) {
	for _, tc := range []struct {
		err    error
		kind   supervision.ExitKind
		reason string
	}{
		{nil, supervision.Normal, "run returned"},
		{sys.NewExitError(0), supervision.Normal, "exit code 0"},
		{fmt.Errorf("run: %w", sys.NewExitError(3)), supervision.Crashed, "exit code 3"},
		{sys.NewExitError(sys.ExitCodeDeadlineExceeded), supervision.Crashed, "deadline exceeded"},
		{sys.NewExitError(sys.ExitCodeContextCanceled), supervision.Crashed, "cancelled"},
		{errors.New("wasm error: unreachable\nwasm stack trace:\n\t.run()"), supervision.Crashed, "wasm error: unreachable"},
		{fmt.Errorf("%w: run loop did not yield for 1s", context.Canceled), supervision.Crashed, "context canceled: run loop did not yield for 1s"},
	} {
		kind, reason := classifyExit(tc.err)
		if kind != tc.kind || reason != tc.reason {
			t.Errorf("classifyExit(%v) = %v, %q; want %v, %q", tc.err, kind, reason, tc.kind, tc.reason)
		}
	}
}
