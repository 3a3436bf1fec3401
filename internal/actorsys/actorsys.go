// Package actorsys creates the protoactor-go actor systems of this project with their logging
// bridged to zap, so the runtime has a single logger and no stray stderr output.
package actorsys

import (
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"
	"go.uber.org/zap/zapcore"
)

// New returns an actor system whose log lines go to logger, named "protoactor". protoactor-go
// logs routine events (system start, dead letters) at info; they are kept at warn and above so
// that they do not drown the runtime's own info lines. A nil logger discards everything.
func New(logger *zap.Logger) *actor.ActorSystem {
	if logger == nil {
		logger = zap.NewNop()
	}
	named := logger.Named("protoactor")
	if named.Core().Enabled(zapcore.InfoLevel) {
		// zap refuses (and complains) to raise a level above what the core already filters.
		named = named.WithOptions(zap.IncreaseLevel(zapcore.WarnLevel))
	}
	core := named.Core()
	return actor.NewActorSystem(
		actor.WithLoggerFactory(func(system *actor.ActorSystem) *slog.Logger {
			return slog.New(zapslog.NewHandler(core)).With("actor_system", system.ID)
		}),
		actor.WithDeadLetterRequestLogging(false),
	)
}
