package guest

import "github.com/astrid-actors/astrid-actors/abi"

// Buffer sizes. A receive buffer starts at DefaultRecvBuffer and grows on demand; the other
// results are small and start small.
const (
	// DefaultRecvBuffer is the initial size of a Subscription's receive buffer (64 KiB).
	DefaultRecvBuffer = 64 << 10
	// MaxBuffer is the largest buffer the SDK grows to when the host answers buffer-too-small.
	// The largest legitimate envelope holds one message with a 1 MiB payload, a 256-byte topic
	// and a 64-byte principal (about 1 MiB + 400 bytes); config values are the only results
	// without an ABI limit. A host asking for more gets ErrBufferTooSmall.
	MaxBuffer = 16 << 20

	callerBuffer   = abi.CallerHeaderSize + abi.MaxPrincipalBytes
	configBuffer   = 256
	bindingsBuffer = 4 << 10
	// maxAttempts bounds the grow-and-retry loop: a message that is ready can be replaced at the
	// head of the queue (dropped, lagged) between two calls, so a second retry is legitimate,
	// but a host that keeps refusing must not spin the guest forever.
	maxAttempts = 4
)

// bufCall is one raw call that writes a variable-size result into buf (passed as ptr, len) and
// the number of bytes written (or, with abi.BufferTooSmall, needed) into *lenOut.
type bufCall func(buf []byte, lenOut *uint32) abi.Code

// fetch runs first with buf and, while the host answers buffer-too-small, grows buf to the
// size the host wrote to len_out and runs again. A buffer-too-small call consumed nothing
// (ABI §1), so the retry returns the same result; again may differ from first — a Recv that
// found a message too large for the buffer is retried as a Poll, since that message is known
// to be ready and blocking again is pointless.
//
// fetch returns the (possibly grown) buffer, which the caller should keep for reuse, and the
// result bytes, a prefix of it. Growth stops at MaxBuffer and after maxAttempts calls; a host
// that asks for no more than it was given, or reports writing more than fits, is treated as
// broken (ErrBufferTooSmall, ErrUnknown).
func fetch(buf []byte, first, again bufCall) (grown, result []byte, code abi.Code) {
	call := first
	for attempt := 0; ; attempt++ {
		var n uint32
		c := call(buf, &n)
		switch {
		case c == abi.OK:
			if uint64(n) > uint64(len(buf)) {
				return buf, nil, abi.Unknown
			}
			return buf, buf[:n], abi.OK
		case c != abi.BufferTooSmall:
			return buf, nil, c
		case attempt+1 >= maxAttempts || uint64(n) <= uint64(len(buf)) || uint64(n) > MaxBuffer:
			return buf, nil, abi.BufferTooSmall
		}
		buf = make([]byte, n)
		call = again
	}
}
