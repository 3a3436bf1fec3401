package cluster

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/astrid-actors/astrid-actors/internal/leakcheck"
)

func TestMain(m *testing.M) {
	if os.Getenv(nodeEnv) != "" {
		os.Exit(nodeMain())
	}
	goleak.VerifyTestMain(m, leakcheck.Options()...)
}
