package guest

import (
	"testing"

	"github.com/astrid-actors/astrid-actors/abi"
)

// useHost installs h as the host for the duration of the test. Tests that call it must not run
// in parallel.
func useHost(t *testing.T, h hostCalls) {
	t.Helper()
	saved := host
	host = h
	t.Cleanup(func() { host = saved })
}

// unexpected is a host whose every call fails the test; tests override the calls they expect.
func unexpected(t *testing.T) hostCalls {
	fail := func(name string) { t.Helper(); t.Errorf("unexpected host call %s", name) }
	return hostCalls{
		publish:     func(string, string) abi.Code { fail("publish"); return abi.Unknown },
		publishAs:   func(string, string, string) abi.Code { fail("publish-as"); return abi.Unknown },
		subscribe:   func(string, *uint32) abi.Code { fail("subscribe"); return abi.Unknown },
		batch:       func([]byte, *uint32) abi.Code { fail("publish-batch"); return abi.Unknown },
		poll:        func(uint32, []byte, *uint32) abi.Code { fail("poll"); return abi.Unknown },
		recv:        func(uint32, int64, []byte, *uint32) abi.Code { fail("recv"); return abi.Unknown },
		wait:        func([]uint32, int64, []uint32, *uint32) abi.Code { fail("wait"); return abi.Unknown },
		drop:        func(uint32) abi.Code { fail("drop"); return abi.Unknown },
		bindings:    func([]byte, *uint32) abi.Code { fail("bindings"); return abi.Unknown },
		log:         func(abi.LogLevel, string) abi.Code { fail("log"); return abi.Unknown },
		signalReady: func() abi.Code { fail("signal-ready"); return abi.Unknown },
		caller:      func([]byte, *uint32) abi.Code { fail("get-caller"); return abi.Unknown },
		clockMs:     func() int64 { fail("clock-ms"); return 0 },
		monotonicNs: func() int64 { fail("clock-monotonic-ns"); return 0 },
		sleepNs:     func(int64) abi.Code { fail("sleep-ns"); return abi.Unknown },
		random:      func([]byte) abi.Code { fail("random-bytes"); return abi.Unknown },
		config:      func(string, []byte, *uint32) abi.Code { fail("get-config"); return abi.Unknown },
	}
}

// writeResult behaves like the host's variable-size result writer: the whole record fits, or
// nothing is written and the size needed goes to lenOut with buffer-too-small.
func writeResult(rec, buf []byte, lenOut *uint32) abi.Code {
	*lenOut = uint32(len(rec))
	if len(rec) > len(buf) {
		return abi.BufferTooSmall
	}
	copy(buf, rec)
	return abi.OK
}

// queue is a fake subscription queue: the host side of poll/recv for one handle. Like the real
// host, it delivers as many whole messages as fit and consumes nothing on buffer-too-small.
type queue struct {
	msgs    [][]byte // encoded message records
	dropped uint64
	calls   []string // "poll:<cap>" / "recv:<ms>:<cap>"
}

func (q *queue) push(topic, payload string, kind abi.PrincipalKind, principal string, src [16]byte, seq uint64, ns int64) {
	q.msgs = append(q.msgs, abi.AppendMessage(nil, topic, []byte(payload), kind, principal, src, seq, ns))
}

func (q *queue) deliver(buf []byte, lenOut *uint32) abi.Code {
	if len(buf) < abi.EnvelopeHeaderSize {
		*lenOut = abi.EnvelopeHeaderSize
		return abi.BufferTooSmall
	}
	env := make([]byte, abi.EnvelopeHeaderSize)
	n := 0
	for n < len(q.msgs) && len(env)+len(q.msgs[n]) <= len(buf) {
		env = append(env, q.msgs[n]...)
		n++
	}
	if n == 0 && len(q.msgs) > 0 {
		*lenOut = uint32(abi.EnvelopeHeaderSize + len(q.msgs[0]))
		return abi.BufferTooSmall
	}
	abi.PutEnvelopeHeader(env, uint32(n), q.dropped, 0)
	q.dropped = 0
	q.msgs = q.msgs[n:]
	*lenOut = uint32(copy(buf, env))
	return abi.OK
}
