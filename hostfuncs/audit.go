package hostfuncs

import (
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/bus"
)

// securityEvent reports whether a failed call is a security event, audited at info instead of
// debug: a denied capability, a rate limit or a quota.
func securityEvent(c abi.Code) bool {
	return c == abi.CapabilityDenied || c == abi.RateLimited || c == abi.Quota
}

// auditCall writes one line on the "astrid.audit.ipc" logger for an ipc host call: the
// function, the principal in effect, the topic or pattern, and either the size (bytes for
// publishes, message count for deliveries) or the error. Disabled levels cost no allocation.
func (in *Instance) auditCall(fn string, p bus.Principal, topic string, sizeKey string, size int, code abi.Code) {
	level := zapcore.DebugLevel
	if securityEvent(code) {
		level = zapcore.InfoLevel
	}
	ce := in.audit.Check(level, "audit")
	if ce == nil {
		return
	}
	fields := []zap.Field{zap.String("fn", fn), zap.Stringer("principal", p), zap.String("topic", topic)}
	if code == abi.OK {
		fields = append(fields, zap.Int(sizeKey, size))
	} else {
		fields = append(fields, zap.Stringer("error", code))
		if securityEvent(code) {
			fields = append(fields, zap.Bool("security_event", true))
		}
	}
	ce.Write(fields...)
}
