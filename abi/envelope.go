package abi

import (
	"encoding/binary"
	"errors"
)

// PrincipalKind says how far a message's principal can be trusted.
type PrincipalKind uint8

// Principal kinds as they appear in envelopes and caller records.
const (
	// PrincipalSystem marks messages published by the runtime itself; the id is empty.
	PrincipalSystem PrincipalKind = 0
	// PrincipalVerified marks a principal the runtime established (a capsule's owner, or the
	// principal propagated from the message a capsule was handling).
	PrincipalVerified PrincipalKind = 1
	// PrincipalClaimed marks a principal an uplink capsule asserted with publish-as.
	PrincipalClaimed PrincipalKind = 2
)

// String returns "system", "verified" or "claimed".
func (k PrincipalKind) String() string {
	switch k {
	case PrincipalSystem:
		return "system"
	case PrincipalVerified:
		return "verified"
	case PrincipalClaimed:
		return "claimed"
	}
	return "kind(" + itoa(int64(k)) + ")"
}

// Sizes of the fixed parts of the ABI records.
const (
	// EnvelopeHeaderSize is the size of an envelope header:
	// u32 count | u32 reserved | u64 dropped | u64 lagged.
	EnvelopeHeaderSize = 24
	// MessageHeaderSize is the fixed part of one envelope message:
	// u32 topic_len | u32 payload_len | u32 principal_len | u8 kind | u8[3] 0 |
	// u8[16] source_id | u64 seq | u64 timestamp_unix_nanos.
	MessageHeaderSize = 48
	// CallerHeaderSize is the fixed part of a get-caller record:
	// u8 kind | u8[3] 0 | u32 principal_len | u8[16] source_id | u64 timestamp_unix_nanos.
	CallerHeaderSize = 32
	// BindingHeaderSize is the fixed part of one interceptor binding:
	// u64 handle_id | u32 priority | u32 action_len | u32 topic_len.
	BindingHeaderSize = 20
	// BindingsHeaderSize is the u32 count that starts a bindings list.
	BindingsHeaderSize = 4
	// BatchRecordHeaderSize is the fixed part of one publish-batch record:
	// u32 topic_len | u32 payload_len.
	BatchRecordHeaderSize = 8
	// WaitHandleSize is the size of one ready handle subscription-wait writes (a u32):
	// ready_cap and the length written are in bytes, this many per handle.
	WaitHandleSize = 4
)

// ErrTruncated is returned when a record is shorter than its own lengths say.
var ErrTruncated = errors.New("abi: truncated record")

// Message is one decoded envelope message.
type Message struct {
	Topic         string
	Payload       []byte // JSON text
	PrincipalKind PrincipalKind
	Principal     string // empty for PrincipalSystem
	SourceID      [16]byte
	Seq           uint64
	TimeUnixNano  int64
}

// Envelope is a decoded poll or recv result.
type Envelope struct {
	Messages []Message
	Dropped  uint64
	Lagged   uint64
}

// MessageSize is the number of envelope bytes one message with these field lengths takes.
func MessageSize(topicLen, payloadLen, principalLen int) int {
	return MessageHeaderSize + topicLen + payloadLen + principalLen
}

// PutEnvelopeHeader writes an envelope header into b, which must hold EnvelopeHeaderSize bytes.
func PutEnvelopeHeader(b []byte, count uint32, dropped, lagged uint64) {
	le := binary.LittleEndian
	le.PutUint32(b[0:], count)
	le.PutUint32(b[4:], 0)
	le.PutUint64(b[8:], dropped)
	le.PutUint64(b[16:], lagged)
}

// AppendMessage appends one envelope message record to dst and returns the extended slice.
func AppendMessage(dst []byte, topic string, payload []byte, kind PrincipalKind, principal string,
	source [16]byte, seq uint64, unixNano int64) []byte {
	le := binary.LittleEndian
	dst = le.AppendUint32(dst, uint32(len(topic)))
	dst = le.AppendUint32(dst, uint32(len(payload)))
	dst = le.AppendUint32(dst, uint32(len(principal)))
	dst = append(dst, byte(kind), 0, 0, 0)
	dst = append(dst, source[:]...)
	dst = le.AppendUint64(dst, seq)
	dst = le.AppendUint64(dst, uint64(unixNano))
	dst = append(dst, topic...)
	dst = append(dst, payload...)
	dst = append(dst, principal...)
	return dst
}

// DecodeEnvelope decodes an envelope written by poll or recv. Strings and payloads are copied, so
// the result stays valid after b is reused.
func DecodeEnvelope(b []byte) (Envelope, error) {
	if len(b) < EnvelopeHeaderSize {
		return Envelope{}, ErrTruncated
	}
	le := binary.LittleEndian
	count := le.Uint32(b[0:])
	env := Envelope{Dropped: le.Uint64(b[8:]), Lagged: le.Uint64(b[16:])}
	if count > uint32(len(b)/MessageHeaderSize) {
		return Envelope{}, ErrTruncated
	}
	env.Messages = make([]Message, 0, count)
	off := EnvelopeHeaderSize
	for i := uint32(0); i < count; i++ {
		if len(b)-off < MessageHeaderSize {
			return Envelope{}, ErrTruncated
		}
		h := b[off:]
		tl, pl, prl := int(le.Uint32(h[0:])), int(le.Uint32(h[4:])), int(le.Uint32(h[8:]))
		m := Message{
			PrincipalKind: PrincipalKind(h[12]),
			Seq:           le.Uint64(h[32:]),
			TimeUnixNano:  int64(le.Uint64(h[40:])),
		}
		copy(m.SourceID[:], h[16:32])
		off += MessageHeaderSize
		if tl < 0 || pl < 0 || prl < 0 || len(b)-off < tl+pl+prl {
			return Envelope{}, ErrTruncated
		}
		m.Topic = string(b[off : off+tl])
		off += tl
		m.Payload = append([]byte(nil), b[off:off+pl]...)
		off += pl
		m.Principal = string(b[off : off+prl])
		off += prl
		env.Messages = append(env.Messages, m)
	}
	return env, nil
}

// Caller is the decoded result of sys get-caller: who sent the message being handled.
// A capsule that handles no message gets a record of kind system with no principal, a zero
// source id and time zero.
type Caller struct {
	PrincipalKind PrincipalKind
	Principal     string
	SourceID      [16]byte
	TimeUnixNano  int64
}

// AppendCaller appends a get-caller record to dst.
func AppendCaller(dst []byte, kind PrincipalKind, principal string, source [16]byte, unixNano int64) []byte {
	le := binary.LittleEndian
	dst = append(dst, byte(kind), 0, 0, 0)
	dst = le.AppendUint32(dst, uint32(len(principal)))
	dst = append(dst, source[:]...)
	dst = le.AppendUint64(dst, uint64(unixNano))
	return append(dst, principal...)
}

// DecodeCaller decodes a get-caller record.
func DecodeCaller(b []byte) (Caller, error) {
	if len(b) < CallerHeaderSize {
		return Caller{}, ErrTruncated
	}
	le := binary.LittleEndian
	c := Caller{PrincipalKind: PrincipalKind(b[0]), TimeUnixNano: int64(le.Uint64(b[24:]))}
	n := int(le.Uint32(b[4:]))
	copy(c.SourceID[:], b[8:24])
	if n < 0 || len(b)-CallerHeaderSize < n {
		return Caller{}, ErrTruncated
	}
	c.Principal = string(b[CallerHeaderSize : CallerHeaderSize+n])
	return c, nil
}

// Binding is one interceptor binding: a [subscribe] entry of the manifest with a handler.
type Binding struct {
	HandleID uint64
	Priority uint32
	Action   string
	Topic    string
}

// BindingSize is the number of bytes one binding with these field lengths takes.
func BindingSize(actionLen, topicLen int) int { return BindingHeaderSize + actionLen + topicLen }

// AppendBinding appends one binding record to dst.
func AppendBinding(dst []byte, b Binding) []byte {
	le := binary.LittleEndian
	dst = le.AppendUint64(dst, b.HandleID)
	dst = le.AppendUint32(dst, b.Priority)
	dst = le.AppendUint32(dst, uint32(len(b.Action)))
	dst = le.AppendUint32(dst, uint32(len(b.Topic)))
	dst = append(dst, b.Action...)
	return append(dst, b.Topic...)
}

// DecodeBindings decodes the result of get-interceptor-bindings.
func DecodeBindings(b []byte) ([]Binding, error) {
	if len(b) < BindingsHeaderSize {
		return nil, ErrTruncated
	}
	le := binary.LittleEndian
	count := le.Uint32(b)
	if count > uint32(len(b)/BindingHeaderSize) {
		return nil, ErrTruncated
	}
	out := make([]Binding, 0, count)
	off := BindingsHeaderSize
	for i := uint32(0); i < count; i++ {
		if len(b)-off < BindingHeaderSize {
			return nil, ErrTruncated
		}
		h := b[off:]
		bd := Binding{HandleID: le.Uint64(h[0:]), Priority: le.Uint32(h[8:])}
		al, tl := int(le.Uint32(h[12:])), int(le.Uint32(h[16:]))
		off += BindingHeaderSize
		if al < 0 || tl < 0 || len(b)-off < al+tl {
			return nil, ErrTruncated
		}
		bd.Action = string(b[off : off+al])
		off += al
		bd.Topic = string(b[off : off+tl])
		off += tl
		out = append(out, bd)
	}
	return out, nil
}

// HookAction is the first byte of an astrid-hook-trigger result.
type HookAction uint8

// Interceptor results.
const (
	// HookContinue passes the message on; non-empty data replaces the payload for the next
	// interceptor in the chain.
	HookContinue HookAction = 0
	// HookFinal stops the chain; the data is the final result.
	HookFinal HookAction = 1
	// HookDeny stops the chain and rejects the message; the data is the reason.
	HookDeny HookAction = 2
)

// AppendBatchRecord appends one publish-batch record (ABI §6.1): u32 topic_len | u32
// payload_len | topic | payload, no padding.
func AppendBatchRecord(dst []byte, topic string, payload []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(topic)))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	dst = append(dst, topic...)
	return append(dst, payload...)
}
