// Package abi is the binary contract between the astrid-actors host and a capsule: module names,
// status codes, limits and the byte layouts of envelopes, interceptor bindings and caller records.
//
// Both sides use this one package: the host functions (package hostfuncs) encode with it and the
// guest SDK (package guest) decodes with it, so a code or an offset can never drift between them.
// It has no dependencies and builds for every GOOS/GOARCH, including wasip1/wasm.
//
// docs/abi.md describes the same contract in prose.
package abi

// Host module names a capsule imports from.
const (
	// ModuleIPC is the import module of the publish/subscribe host functions.
	ModuleIPC = "astrid:ipc@1.0.0"
	// ModuleIPC11 is version 1.1 of the ipc module: every function of ModuleIPC plus
	// publish-batch. The host serves both; a capsule imports from the version it needs.
	ModuleIPC11 = "astrid:ipc@1.1.0"
	// ModuleSys is the import module of logging, clocks, readiness, randomness and config.
	ModuleSys = "astrid:sys@1.0.0"
	// ModuleKV is the import module of the durable key-value state (docs/kv.md).
	ModuleKV = "astrid:kv@1.0.0"
	// Version is the ABI version the host implements. (A manifest's astrid-version requirement
	// is checked against manifest.AstridRelease, not against this.)
	Version = "1.0.0"
)

// Code is the i32 status every host function returns. Zero is success; every other value is one
// error of the single ABI-wide error space. A non-zero Code is an error: it implements error so a
// guest can write errors.Is(err, abi.Closed).
type Code int32

// The ABI status codes (ABI §2).
const (
	OK               Code = 0  // success
	CapabilityDenied Code = 1  // the manifest does not grant it (topic ACL, uplink)
	InvalidInput     Code = 2  // bad topic, pattern, payload, principal, pointer or UTF-8
	Closed           Code = 3  // unknown or dropped handle, or the capsule is stopping
	RateLimited      Code = 4  // per-(capsule, principal) throughput budget exceeded
	Backpressure     Code = 5  // a bounded queue the call needs is full
	Quota            Code = 6  // per-capsule count limit (e.g. 128 subscriptions)
	Timeout          Code = 7  // reserved: recv reports a timeout as OK with zero messages
	Unknown          Code = 8  // host-side failure; details are in the host log
	BufferTooSmall   Code = 9  // the result does not fit; the size needed was written
	TooLarge         Code = 10 // an argument is over a documented size limit
	Cancelled        Code = 11 // a blocking call was cut short because the capsule is stopping
	NotFound         Code = 12 // no such key or config entry
	CASMismatch      Code = 13 // kv-cas: the current value is not the expected one
)

var codeNames = [...]string{
	OK:               "ok",
	CapabilityDenied: "capability-denied",
	InvalidInput:     "invalid-input",
	Closed:           "closed",
	RateLimited:      "rate-limited",
	Backpressure:     "backpressure",
	Quota:            "quota",
	Timeout:          "timeout",
	Unknown:          "unknown",
	BufferTooSmall:   "buffer-too-small",
	TooLarge:         "too-large",
	Cancelled:        "cancelled",
	NotFound:         "not-found",
	CASMismatch:      "cas-mismatch",
}

// String returns the code's ABI name, e.g. "capability-denied", or "code(N)" for a value outside
// the table.
func (c Code) String() string {
	if c >= 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "code(" + itoa(int64(c)) + ")"
}

// Error returns the code's ABI name so a Code can be used as an error value.
func (c Code) Error() string { return c.String() }

// Err returns nil for OK and the code itself otherwise.
func (c Code) Err() error {
	if c == OK {
		return nil
	}
	return c
}

// Limits of ABI version 1.
const (
	// MaxTopicBytes is the longest topic or pattern a guest may pass, in bytes.
	MaxTopicBytes = 256
	// MaxTopicSegments is the most dot-separated segments a guest topic or pattern may have.
	MaxTopicSegments = 8
	// MaxPayloadBytes is the largest JSON payload one publish may carry.
	MaxPayloadBytes = 1 << 20
	// MaxEnvelopePayloadBytes is the most payload bytes one poll or recv envelope carries.
	MaxEnvelopePayloadBytes = 1 << 20
	// MaxSubscriptions is the default number of live subscriptions per capsule instance.
	MaxSubscriptions = 128
	// MaxRecvTimeoutMillis is the clamp applied to recv and wait timeouts.
	MaxRecvTimeoutMillis = 60_000
	// MaxPrincipalBytes is the longest principal id publish-as accepts.
	MaxPrincipalBytes = 64
	// MaxRandomBytes is the most bytes one random-bytes call may ask for.
	MaxRandomBytes = 4096
	// MaxSleepNanos is the longest sleep-ns accepts (60 s).
	MaxSleepNanos = 60_000_000_000
	// MaxWaitHandles is the most handles one subscription-wait may list.
	MaxWaitHandles = MaxSubscriptions
	// MaxBatchBytes is the largest records_len publish-batch accepts (4 MiB).
	MaxBatchBytes = 4 << 20
	// MaxBatchRecords is the most records one publish-batch may carry.
	MaxBatchRecords = 1024
)

// LogLevel is the level argument of sys log.
type LogLevel int32

// Log levels of sys log, from most to least verbose.
const (
	LogTrace LogLevel = 0
	LogDebug LogLevel = 1
	LogInfo  LogLevel = 2
	LogWarn  LogLevel = 3
	LogError LogLevel = 4
)

// ValidPrincipal reports whether id is a principal id publish-as accepts: 1 to 64 characters,
// each an ASCII letter, digit, '_' or '-'.
func ValidPrincipal(id string) bool {
	if len(id) == 0 || len(id) > MaxPrincipalBytes {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// itoa formats n without importing strconv (keeps guest binaries small).
func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	u := uint64(n)
	if neg {
		u = uint64(-n)
	}
	var b [20]byte
	i := len(b)
	for u > 0 {
		i--
		b[i] = byte('0' + u%10)
		u /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
