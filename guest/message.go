package guest

import (
	"encoding/json"
	"time"

	"github.com/astrid-actors/astrid-actors/abi"
)

// Principal kinds, re-exported from package abi.
const (
	// PrincipalSystem: published by the runtime itself; the ID is empty.
	PrincipalSystem = abi.PrincipalSystem
	// PrincipalVerified: a principal the runtime established.
	PrincipalVerified = abi.PrincipalVerified
	// PrincipalClaimed: a principal an uplink capsule asserted with PublishAs; trust it only as
	// far as you trust that uplink.
	PrincipalClaimed = abi.PrincipalClaimed
)

// Principal is on whose behalf a message was published.
type Principal struct {
	// Kind says how far ID can be trusted.
	Kind abi.PrincipalKind
	// ID is the principal id; empty for PrincipalSystem.
	ID string
}

// String returns "system" for a system principal and "kind:id" otherwise, e.g.
// "verified:alice" or "claimed:bob".
func (p Principal) String() string {
	if p.Kind == abi.PrincipalSystem && p.ID == "" {
		return p.Kind.String()
	}
	return p.Kind.String() + ":" + p.ID
}

// Message is one message delivered to a Subscription. Its fields are copies: they stay valid
// after the next receive.
type Message struct {
	// Topic is the concrete topic the message was published on.
	Topic string
	// Payload is the JSON text of the message (the host rejects publishes that are not JSON).
	Payload json.RawMessage
	// SourceID is the publishing capsule instance's UUID (raw bytes).
	SourceID [16]byte
	// Principal is on whose behalf the message was published.
	Principal Principal
	// Seq is the bus-wide publish sequence number, strictly increasing per publisher.
	Seq uint64
	// Time is when the message was published (host wall clock).
	Time time.Time
}

// SourceIDString returns SourceID as canonical lower-case UUID text (8-4-4-4-12 hex digits).
func (m Message) SourceIDString() string { return UUIDString(m.SourceID) }

// Decode unmarshals the JSON payload into v with encoding/json.
func (m Message) Decode(v any) error { return json.Unmarshal(m.Payload, v) }

// Batch is the result of one Poll or Recv: the messages delivered, in order, and how many were
// lost since the previous batch. Every message published on a matching topic after Subscribe
// is either in exactly one batch or counted once in Dropped or Lagged.
type Batch struct {
	// Messages may be empty (nothing queued, or a Recv timeout). All messages of one batch
	// share one principal.
	Messages []Message
	// Dropped counts messages discarded since the previous batch (queue budget exceeded,
	// oversize).
	Dropped uint64
	// Lagged counts messages skipped because this subscriber was too slow.
	Lagged uint64
}

// UUIDString formats a 16-byte id (a Message.SourceID or an abi.Caller.SourceID) as canonical
// lower-case UUID text, e.g. "01234567-89ab-cdef-0123-456789abcdef".
func UUIDString(id [16]byte) string {
	const hex = "0123456789abcdef"
	var b [36]byte
	j := 0
	for i, c := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = hex[c>>4], hex[c&0xf]
		j += 2
	}
	return string(b[:])
}

// batchOf converts a decoded envelope. abi.DecodeEnvelope already copied every string and
// payload out of the receive buffer.
func batchOf(env abi.Envelope) Batch {
	b := Batch{Dropped: env.Dropped, Lagged: env.Lagged}
	if len(env.Messages) > 0 {
		b.Messages = make([]Message, len(env.Messages))
	}
	for i, m := range env.Messages {
		b.Messages[i] = Message{
			Topic:     m.Topic,
			Payload:   json.RawMessage(m.Payload),
			SourceID:  m.SourceID,
			Principal: Principal{Kind: m.PrincipalKind, ID: m.Principal},
			Seq:       m.Seq,
			Time:      time.Unix(0, m.TimeUnixNano),
		}
	}
	return b
}
