package hostfuncs

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/astrid-actors/astrid-actors/abi"
)

func zapcoreBool(key string, v bool) zapcore.Field { return zap.Bool(key, v) }

func TestAuditLines(t *testing.T) {
	w := newWorld(t)
	g := w.guest(Config{CapsuleID: "aud", Grants: Grants{Publish: []string{"ok"}}})
	g.publish("ok", `12`)
	g.publish("nope", `1`)
	lines := w.logs.FilterLoggerName("astrid.audit.ipc").All()
	if len(lines) != 2 {
		t.Fatalf("%d audit lines, want 2", len(lines))
	}
	okLine, denied := lines[0], lines[1]
	ctx := okLine.ContextMap()
	if okLine.Level != zapcore.DebugLevel || ctx["fn"] != "astrid:ipc/publish" || ctx["topic"] != "ok" ||
		ctx["bytes"] != int64(2) || ctx["capsule_id"] != "aud" || ctx["principal"] != "verified(default)" ||
		ctx["instance_id"] != g.in.InstanceID().String() {
		t.Fatalf("ok line = %v %v", okLine.Level, ctx)
	}
	dctx := denied.ContextMap()
	if denied.Level != zapcore.InfoLevel || dctx["error"] != abi.CapabilityDenied.String() || dctx["security_event"] != true {
		t.Fatalf("denied line = %v %v", denied.Level, dctx)
	}
}
