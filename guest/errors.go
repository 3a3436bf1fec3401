package guest

import (
	"errors"

	"github.com/astrid-actors/astrid-actors/abi"
)

// Sentinel errors, one per ABI status code (ABI §2), so capsule authors can write
// errors.Is(err, guest.ErrClosed) without importing package abi. Each is the abi.Code itself,
// so errors.Is(err, abi.Closed) matches the same errors.
const (
	// ErrCapabilityDenied: the manifest does not grant it (a [publish] or [subscribe] topic ACL,
	// or [capabilities] uplink for PublishAs).
	ErrCapabilityDenied = abi.CapabilityDenied
	// ErrInvalidInput: a bad topic, pattern, payload (not JSON), principal, pointer or UTF-8;
	// also returned by the SDK itself for arguments it can tell are wrong (a nil Subscription).
	ErrInvalidInput = abi.InvalidInput
	// ErrClosed: the subscription was closed (or never existed), or the capsule is stopping.
	ErrClosed = abi.Closed
	// ErrRateLimited: the per-(capsule, principal) publish budget is exhausted; retry later.
	ErrRateLimited = abi.RateLimited
	// ErrBackpressure: a bounded queue the call needs is full; retry later.
	ErrBackpressure = abi.Backpressure
	// ErrQuota: a per-capsule count limit was reached (at most abi.MaxSubscriptions live
	// subscriptions).
	ErrQuota = abi.Quota
	// ErrTimeout is reserved by the ABI: a receive that times out is not an error but an empty
	// Batch.
	ErrTimeout = abi.Timeout
	// ErrUnknown: a host-side failure (details are in the host log). Outside GOOS=wasip1 every
	// host call fails with ErrUnknown, since there is no host.
	ErrUnknown = abi.Unknown
	// ErrBufferTooSmall is normally handled inside the SDK, which grows its buffer and retries;
	// it surfaces only if the host keeps asking for a size the SDK will not allocate.
	ErrBufferTooSmall = abi.BufferTooSmall
	// ErrTooLarge: an argument is over a documented limit (payload over abi.MaxPayloadBytes,
	// sleep over 60 s, more than abi.MaxRandomBytes random bytes, ...).
	ErrTooLarge = abi.TooLarge
	// ErrCancelled: a blocking call (Recv, Wait, Sleep) was cut short because the capsule is
	// stopping. A run loop should return when it sees it.
	ErrCancelled = abi.Cancelled
	// ErrNotFound: no such config key.
	ErrNotFound = abi.NotFound
)

// ErrTruncated is returned (wrapped) when a host result is shorter than its own lengths say,
// which means the host broke the ABI.
var ErrTruncated = abi.ErrTruncated

// Error is the error every failing host call returns: which ABI function failed, on what, and
// the status code. It unwraps to its Code, so errors.Is(err, guest.ErrClosed) and
// errors.As(err, &code) (with code an abi.Code) work.
type Error struct {
	// Func is the ABI function name, e.g. "publish" or "subscription-recv".
	Func string
	// Arg is the topic, pattern or config key the call was about, if any.
	Arg string
	// Code is the non-OK status.
	Code abi.Code
}

// Error formats as "astrid publish demo.x: capability-denied".
func (e *Error) Error() string {
	s := "astrid " + e.Func
	if e.Arg != "" {
		s += " " + e.Arg
	}
	return s + ": " + e.Code.String()
}

// Unwrap returns the status code.
func (e *Error) Unwrap() error { return e.Code }

// callErr returns nil for abi.OK and an *Error otherwise.
func callErr(fn, arg string, c abi.Code) error {
	if c == abi.OK {
		return nil
	}
	return &Error{Func: fn, Arg: arg, Code: c}
}

// CodeOf returns the ABI status code carried by err: abi.OK for nil, the code of an *Error or a
// bare abi.Code anywhere in err's chain, and abi.Unknown for any other error (for example a JSON
// encoding error or ErrTruncated).
func CodeOf(err error) abi.Code {
	if err == nil {
		return abi.OK
	}
	var c abi.Code
	if errors.As(err, &c) {
		return c
	}
	return abi.Unknown
}

// ABI function names, used in errors.
const (
	fnPublish     = "publish"
	fnPublishAs   = "publish-as"
	fnBatch       = "publish-batch"
	fnSubscribe   = "subscribe"
	fnPoll        = "subscription-poll"
	fnRecv        = "subscription-recv"
	fnWait        = "subscription-wait"
	fnDrop        = "subscription-drop"
	fnBindings    = "get-interceptor-bindings"
	fnSignalReady = "signal-ready"
	fnGetCaller   = "get-caller"
	fnSleep       = "sleep-ns"
	fnRandom      = "random-bytes"
	fnGetConfig   = "get-config"
)
