package guest

import (
	"fmt"
	"time"

	"github.com/astrid-actors/astrid-actors/abi"
)

// Log levels, re-exported from package abi.
const (
	LogTrace = abi.LogTrace
	LogDebug = abi.LogDebug
	LogInfo  = abi.LogInfo
	LogWarn  = abi.LogWarn
	LogError = abi.LogError
)

// Log writes msg to the host's log at level, with the capsule's id and the current principal
// attached by the host. Logging is best effort: a failure (an invalid level, a host that drops
// the line) is not reported.
func Log(level abi.LogLevel, msg string) { host.log(level, msg) }

// Debugf logs at LogDebug, formatting with fmt.Sprintf.
func Debugf(format string, args ...any) { Log(abi.LogDebug, fmt.Sprintf(format, args...)) }

// Infof logs at LogInfo, formatting with fmt.Sprintf.
func Infof(format string, args ...any) { Log(abi.LogInfo, fmt.Sprintf(format, args...)) }

// Warnf logs at LogWarn, formatting with fmt.Sprintf.
func Warnf(format string, args ...any) { Log(abi.LogWarn, fmt.Sprintf(format, args...)) }

// Errorf logs at LogError, formatting with fmt.Sprintf. It does not return an error.
func Errorf(format string, args ...any) { Log(abi.LogError, fmt.Sprintf(format, args...)) }

// SignalReady tells the host that the capsule has subscribed to what it needs. A run-loop
// capsule calls it once, after its Subscribe calls and before it loops: the runtime (and
// whoever waits for the capsule to be ready) then knows that messages published from now on
// reach it. Only the first call has an effect; later calls return nil.
func SignalReady() error { return callErr(fnSignalReady, "", host.signalReady()) }

// Caller returns who sent the message being handled: the first message of the last non-empty
// batch returned by Poll or Recv (or the message an interceptor was called with). ok is false
// when no message has been handled yet; the host then reports a system principal with a zero
// source id and time zero, which is what the returned abi.Caller holds. Format its SourceID
// with UUIDString.
func Caller() (c abi.Caller, ok bool, err error) {
	var small [callerBuffer]byte
	get := func(buf []byte, n *uint32) abi.Code { return host.caller(buf, n) }
	_, data, code := fetch(small[:], get, get)
	if code != abi.OK {
		return abi.Caller{}, false, callErr(fnGetCaller, "", code)
	}
	c, err = abi.DecodeCaller(data)
	if err != nil {
		return abi.Caller{}, false, fmt.Errorf("astrid %s: %w", fnGetCaller, err)
	}
	none := c.SourceID == [16]byte{} && c.TimeUnixNano == 0
	return c, !none, nil
}

// Now returns the host's wall clock (millisecond resolution). Outside wasm it returns the Unix
// epoch.
func Now() time.Time { return time.UnixMilli(host.clockMs()) }

// Monotonic returns the host's monotonic clock: the time since the runtime started. Use it, not
// Now, to measure durations.
func Monotonic() time.Duration { return time.Duration(host.monotonicNs()) }

// Sleep blocks for d (zero or negative returns at once after one host call). Errors:
// ErrTooLarge for d over 60 s (abi.MaxSleepNanos); ErrCancelled when the capsule is stopping,
// at which point the run loop should return.
func Sleep(d time.Duration) error {
	return callErr(fnSleep, "", host.sleepNs(max(int64(d), 0)))
}

// RandomBytes returns n bytes from the host's cryptographically secure generator. n is at most
// abi.MaxRandomBytes (4096), else ErrTooLarge; a negative n is ErrInvalidInput. Neither case
// calls the host.
func RandomBytes(n int) ([]byte, error) {
	switch {
	case n < 0:
		return nil, callErr(fnRandom, "", abi.InvalidInput)
	case n > abi.MaxRandomBytes:
		return nil, callErr(fnRandom, "", abi.TooLarge)
	}
	b := make([]byte, n)
	if err := callErr(fnRandom, "", host.random(b)); err != nil {
		return nil, err
	}
	return b, nil
}

// Config returns the value of key in the manifest's [env] table (as configured for this
// capsule). Errors: ErrNotFound when the key is not set; ErrTooLarge for a key over
// abi.MaxTopicBytes bytes.
func Config(key string) (string, error) {
	var small [configBuffer]byte
	get := func(buf []byte, n *uint32) abi.Code { return host.config(key, buf, n) }
	_, data, code := fetch(small[:], get, get)
	if code != abi.OK {
		return "", callErr(fnGetConfig, key, code)
	}
	return string(data), nil
}

// InterceptorBindings returns the capsule's interceptor bindings: the [subscribe] entries of
// its manifest that name a handler, with the handle id, priority, action (the handler name
// passed to astrid-hook-trigger) and topic.
func InterceptorBindings() ([]abi.Binding, error) {
	buf := make([]byte, bindingsBuffer)
	get := func(buf []byte, n *uint32) abi.Code { return host.bindings(buf, n) }
	_, data, code := fetch(buf, get, get)
	if code != abi.OK {
		return nil, callErr(fnBindings, "", code)
	}
	bs, err := abi.DecodeBindings(data)
	if err != nil {
		return nil, fmt.Errorf("astrid %s: %w", fnBindings, err)
	}
	return bs, nil
}
