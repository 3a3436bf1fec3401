package hostfuncs

import (
	"context"
	"crypto/rand"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/bus"
)

// MaxLogBytes is the longest message sys log accepts; longer ones get too-large.
const MaxLogBytes = 64 << 10

// fnLog is the audit name of sys log (audited only when refused for its budget).
const fnLog = "astrid:sys/log"

// abiLog implements sys log: the message goes to the capsule's zap logger, trace mapped to debug.
// Checks: the message range (ABI §1: range checks first), the level, the length.
func (in *Instance) abiLog(mem guestMemory, level int32, msgPtr, msgLen uint32) abi.Code {
	if !mem.inRange(msgPtr, msgLen) {
		return abi.InvalidInput
	}
	var zl zapcore.Level
	switch abi.LogLevel(level) {
	case abi.LogTrace, abi.LogDebug:
		zl = zapcore.DebugLevel
	case abi.LogInfo:
		zl = zapcore.InfoLevel
	case abi.LogWarn:
		zl = zapcore.WarnLevel
	case abi.LogError:
		zl = zapcore.ErrorLevel
	default:
		return abi.InvalidInput
	}
	if msgLen > MaxLogBytes {
		return abi.TooLarge
	}
	if !in.log.Core().Enabled(zl) {
		return abi.OK // a disabled level costs nothing, not even budget
	}
	// The capsule's log budget (lines and bytes per second) bounds what a flooding guest can
	// write; a line over it is not written, and is counted and audited like a refused call.
	now := in.shared.rateNow(time.Now())
	_, ok := in.shared.logs.admit(bus.System(), int(msgLen), now)
	if !ok {
		in.auditRefusal(fnLog, in.effectivePrincipal(), "", abi.RateLimited)
		return abi.RateLimited
	}
	msg, _ := mem.str(msgPtr, msgLen)
	if ce := in.log.Check(zl, msg); ce != nil {
		fields := []zap.Field{zap.Stringer("principal", in.effectivePrincipal())}
		if abi.LogLevel(level) == abi.LogTrace {
			fields = append(fields, zap.Bool("trace", true))
		}
		ce.Write(fields...)
	}
	return abi.OK
}

// Audit names of a guest's WASI output lines, in Shared.Refused and the audit log.
const (
	FnWASIStdout = "wasi-stdout"
	FnWASIStderr = "wasi-stderr"
)

// AdmitOutput offers one line of n bytes of the guest's WASI output (fn is FnWASIStdout or
// FnWASIStderr) to the capsule's log budget, the one sys log uses, and reports whether the line
// may be written. A line over the budget is counted in Shared.Refused (fn, rate-limited) and
// audited aggregated like a refused call. The caller checks first that the line's level is
// enabled, so a disabled level costs no budget.
func (in *Instance) AdmitOutput(fn string, n int) bool {
	now := in.shared.rateNow(time.Now())
	_, ok := in.shared.logs.admit(bus.System(), n, now)
	if !ok {
		in.auditRefusal(fn, in.effectivePrincipal(), "", abi.RateLimited)
		return false
	}
	return true
}

// TruncatedOutput counts one line of the guest's WASI output cut at the line length limit
// (fn is FnWASIStdout or FnWASIStderr) in Shared.Refused (fn, too-large), audited aggregated.
func (in *Instance) TruncatedOutput(fn string) {
	in.auditRefusal(fn, in.effectivePrincipal(), "", abi.TooLarge)
}

// SignalReady implements sys signal-ready; only the first call has an effect.
func (in *Instance) SignalReady() abi.Code {
	in.readyOnce.Do(func() {
		if in.cfg.OnReady != nil {
			in.cfg.OnReady()
		}
	})
	return abi.OK
}

// abiGetCaller implements sys get-caller: the record of the message being handled, or a record
// with kind system, no principal, a zero source id and time zero when there is none.
func (in *Instance) abiGetCaller(mem guestMemory, bufPtr, bufCap, lenOut uint32) abi.Code {
	c := in.Caller()
	var rec []byte
	if c == nil {
		rec = abi.AppendCaller(nil, abi.PrincipalSystem, "", [16]byte{}, 0)
	} else {
		rec = abi.AppendCaller(nil, c.Principal.Kind, c.Principal.ID, c.Source, c.Time.UnixNano())
	}
	return writeResult(mem, rec, bufPtr, bufCap, lenOut)
}

// writeResult writes a variable-size result whole, or reports buffer-too-small with the size
// needed.
func writeResult(mem guestMemory, rec []byte, bufPtr, bufCap, lenOut uint32) abi.Code {
	if !mem.inRange(bufPtr, bufCap) || !mem.inRange(lenOut, 4) {
		return abi.InvalidInput
	}
	mem.putU32(lenOut, uint32(len(rec)))
	if uint64(len(rec)) > uint64(bufCap) {
		return abi.BufferTooSmall
	}
	mem.write(bufPtr, rec)
	return abi.OK
}

// ClockMillis implements sys clock-ms: wall clock milliseconds since the Unix epoch.
func (in *Instance) ClockMillis() int64 { return time.Now().UnixMilli() }

// ClockMonotonicNanos implements sys clock-monotonic-ns: nanoseconds since the runtime's epoch.
func (in *Instance) ClockMonotonicNanos() int64 { return int64(time.Since(in.cfg.Epoch)) }

// Sleep implements sys sleep-ns. It counts as yielding for the watchdog and returns cancelled
// at once when the capsule stops.
func (in *Instance) Sleep(ctx context.Context, ns int64) abi.Code {
	if ns < 0 {
		return abi.InvalidInput
	}
	if ns > abi.MaxSleepNanos {
		return abi.TooLarge
	}
	in.BeginYield()
	defer in.EndYield()
	if ctx.Err() != nil {
		return abi.Cancelled
	}
	t := time.NewTimer(time.Duration(ns))
	defer t.Stop()
	select {
	case <-t.C:
		return abi.OK
	case <-ctx.Done():
		return abi.Cancelled
	}
}

// abiRandomBytes implements sys random-bytes from crypto/rand.
func (in *Instance) abiRandomBytes(mem guestMemory, bufPtr, n uint32) abi.Code {
	if !mem.inRange(bufPtr, n) {
		return abi.InvalidInput
	}
	if n > abi.MaxRandomBytes {
		return abi.TooLarge
	}
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	mem.write(bufPtr, b)
	return abi.OK
}

// abiGetConfig implements sys get-config: the [env] value of key, or not-found.
// Checks: every range (ABI §1), the key length, the key.
func (in *Instance) abiGetConfig(mem guestMemory, keyPtr, keyLen, bufPtr, bufCap, lenOut uint32) abi.Code {
	if !mem.inRange(keyPtr, keyLen) || !mem.inRange(bufPtr, bufCap) || !mem.inRange(lenOut, 4) {
		return abi.InvalidInput
	}
	if keyLen > abi.MaxTopicBytes {
		return abi.TooLarge
	}
	key, _ := mem.str(keyPtr, keyLen)
	v, found := in.cfg.Config[key]
	if !found {
		return abi.NotFound
	}
	return writeResult(mem, []byte(v), bufPtr, bufCap, lenOut)
}
