// Package deps pins the module's dependencies while the packages that use them are written.
package deps

import (
	_ "github.com/BurntSushi/toml"
	_ "github.com/asynkron/protoactor-go/actor"
	_ "github.com/google/uuid"
	_ "github.com/tetratelabs/wazero"
	_ "go.uber.org/goleak"
	_ "go.uber.org/zap"
	_ "go.uber.org/zap/exp/zapslog"
)
