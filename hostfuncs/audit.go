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

// auditCall audits an ipc host call on the "astrid.audit.ipc" logger. A successful call gets
// one debug line: the function, the principal in effect, the topic or pattern, and the size
// (bytes for publishes, message count for deliveries). A refused call is counted exactly and
// audited aggregated per (function, code) and interval (auditRefusal), so a flood of refusals
// cannot flood the log. Disabled levels cost no allocation.
func (in *Instance) auditCall(fn string, p bus.Principal, topic string, sizeKey string, size int, code abi.Code) {
	if code != abi.OK {
		in.auditRefusal(fn, p, topic, code)
		return
	}
	ce := in.audit.Check(zapcore.DebugLevel, "audit")
	if ce == nil {
		return
	}
	ce.Write(zap.String("fn", fn), zap.Stringer("principal", p), zap.String("topic", topic), zap.Int(sizeKey, size))
}
