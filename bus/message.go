package bus

import (
	"time"

	"github.com/google/uuid"

	"github.com/astrid-actors/astrid-actors/abi"
)

// Principal says on whose behalf a message was published.
//
// Kind is abi.PrincipalSystem for messages of the runtime itself (ID is empty),
// abi.PrincipalVerified for principals the runtime established, and abi.PrincipalClaimed for
// principals an uplink capsule asserted with publish-as. Principals with the same ID but a
// different Kind are different principals: they get separate fairness buckets and batches.
type Principal struct {
	Kind abi.PrincipalKind
	ID   string
}

// System is the principal of runtime-originated messages.
func System() Principal { return Principal{Kind: abi.PrincipalSystem} }

// Verified returns the principal id as established by the runtime.
func Verified(id string) Principal { return Principal{Kind: abi.PrincipalVerified, ID: id} }

// Claimed returns the principal id as asserted by an uplink capsule.
func Claimed(id string) Principal { return Principal{Kind: abi.PrincipalClaimed, ID: id} }

// String renders the principal as "system", "verified(id)" or "claimed(id)".
func (p Principal) String() string {
	if p.Kind == abi.PrincipalSystem {
		return "system"
	}
	return p.Kind.String() + "(" + p.ID + ")"
}

// Message is one published message. The bus creates it once per publish and hands the same
// immutable value to every matching subscription: nobody may modify a Message or its Payload
// after Publish returned.
type Message struct {
	// Seq is the bus-wide publish sequence number, strictly increasing in publish order.
	Seq uint64
	// Time is when the message was published.
	Time time.Time
	// Topic is the concrete topic the message was published on.
	Topic string
	// Payload is JSON text, validated once at publish.
	Payload []byte
	// Source is the instance UUID of the publishing capsule (uuid.Nil for the runtime).
	Source uuid.UUID
	// Principal is the attribution of the message.
	Principal Principal
}

// Size is the number of bytes the message counts against a mailbox budget: payload plus topic.
func (m *Message) Size() int { return len(m.Payload) + len(m.Topic) }

// Messages with their payload in one allocation, for the common payload sizes.
type (
	message64 struct {
		m Message
		b [64]byte
	}
	message128 struct {
		m Message
		b [128]byte
	}
	message256 struct {
		m Message
		b [256]byte
	}
	message512 struct {
		m Message
		b [512]byte
	}
	message1k struct {
		m Message
		b [1024]byte
	}
)

// newMessage returns a message holding a copy of payload. Payloads up to 1 KiB share the
// message's allocation (one allocation per publish instead of two); the size classes double,
// so at most half of the payload array is unused.
func newMessage(payload []byte) *Message {
	var m *Message
	var buf []byte
	switch n := len(payload); {
	case n <= 64:
		x := new(message64)
		m, buf = &x.m, x.b[:n:n]
	case n <= 128:
		x := new(message128)
		m, buf = &x.m, x.b[:n:n]
	case n <= 256:
		x := new(message256)
		m, buf = &x.m, x.b[:n:n]
	case n <= 512:
		x := new(message512)
		m, buf = &x.m, x.b[:n:n]
	case n <= 1024:
		x := new(message1k)
		m, buf = &x.m, x.b[:n:n]
	default:
		m, buf = new(Message), make([]byte, n)
	}
	copy(buf, payload)
	m.Payload = buf
	return m
}
