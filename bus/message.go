package bus

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

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
//
// Messages are recycled (docs/architecture.md, "Message lifetime"): every holder of a message
// — the publisher while it delivers, each mailbox it is queued in, each consumer it was drained
// to — owns one reference, and the message goes back to a pool for reuse when the last one is
// released. A consumer that is done with a drained message may call Release; one that never
// does keeps the message alive as long as it likes and the GC reclaims it as any value. Never
// calling Release is always safe.
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

	// self is the message itself when it was allocated by newMessage in one of the pooled
	// size classes (its payload array follows it in the same allocation), nil otherwise: a
	// Message built as a literal, or a copy of a pooled one, is never recycled.
	self *Message
	// refs counts the references to a pooled message (atomic; see Release).
	refs int32
}

// Size is the number of bytes the message counts against a mailbox budget: payload plus topic.
func (m *Message) Size() int { return len(m.Payload) + len(m.Topic) }

// Release gives back the caller's reference to m: a message drained from a mailbox (Drain,
// Poll, Recv) carries one reference for its consumer, and one taken with Retain is given back
// the same way. When the last reference is released the message is reused by a later publish,
// so after Release neither m nor its Payload may be used any more (copy what must be kept,
// before). Calling Release at most once per reference is the caller's duty; not calling it at
// all is always safe — the message is then left to the GC. Release of a message the bus does
// not recycle (built by hand, or a copy) does nothing.
func (m *Message) Release() { m.unref(1) }

// Retain takes one more reference to m, for a holder that keeps m beyond the call that handed
// it over while the caller still holds a reference: a Tap or Remote.Forward, whose message is
// only lent for the duration of the call, must Retain what it stores. The reference is given
// back with Release, or never (m is then pinned: left to the GC, never reused).
func (m *Message) Retain() { m.ref(1) }

// pooled reports whether m is recycled: allocated by newMessage in a pooled size class (a
// copy of such a message has another address, so it is not).
func (m *Message) pooled() bool { return m.self == m }

// maxRecycledFanout is the most mailboxes a recycled message is delivered to. A message that
// matches more is left to the GC (unpool): its allocation is shared by that many deliveries,
// while counting references would cost each of them an atomic on one shared cache line.
const maxRecycledFanout = 16

// unpool makes m, which nobody but its creator holds yet, an ordinary message: never recycled,
// its references no longer counted.
func (m *Message) unpool() { m.self = nil }

// ref adds n references to a pooled message.
func (m *Message) ref(n int32) {
	if m.pooled() && n != 0 {
		atomic.AddInt32(&m.refs, n)
	}
}

// unref gives back n references to a pooled message and recycles it when none is left.
func (m *Message) unref(n int32) {
	if !m.pooled() || n == 0 {
		return
	}
	switch left := atomic.AddInt32(&m.refs, -n); {
	case left == 0:
		recycle(m)
	case left < 0:
		panic("bus: Message released more often than it was referenced")
	}
}

// The pooled size classes: a message and its payload in one allocation. The classes double,
// so at most half of the payload array is unused; larger payloads get an allocation of their
// own and are not recycled.
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
	message2k struct {
		m Message
		b [2048]byte
	}
	message4k struct {
		m Message
		b [4096]byte
	}
)

// classBytes are the payload capacities of the size classes; pools the free messages of each.
var (
	classBytes = [...]int{64, 128, 256, 512, 1024, 2048, 4096}
	pools      [len(classBytes)]sync.Pool
)

// classOf returns the size class of an n-byte payload, or -1 when it has none.
func classOf(n int) int {
	for c, size := range classBytes {
		if n <= size {
			return c
		}
	}
	return -1
}

// allocClass returns a new message of class c whose payload array follows it.
func allocClass(c int) *Message {
	switch c {
	case 0:
		return &new(message64).m
	case 1:
		return &new(message128).m
	case 2:
		return &new(message256).m
	case 3:
		return &new(message512).m
	case 4:
		return &new(message1k).m
	case 5:
		return &new(message2k).m
	default:
		return &new(message4k).m
	}
}

// payloadArray returns the n first bytes of the payload array of a pooled message: the bytes
// right after the Message in its allocation (the size-class structs have no padding between
// them, checked by TestMessageLayout).
func payloadArray(m *Message, n int) []byte {
	return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(m), unsafe.Sizeof(Message{}))), n)[:n:n]
}

// newMessage returns a message holding a copy of payload, with one reference (the creator's).
// Payloads up to 4 KiB share the message's allocation, taken from the pool of its size class
// (recycled messages) or allocated; larger ones get a Message and a payload of their own.
func newMessage(payload []byte) *Message {
	n := len(payload)
	c := classOf(n)
	if c < 0 {
		m := &Message{Payload: make([]byte, n)}
		copy(m.Payload, payload)
		return m
	}
	m, _ := pools[c].Get().(*Message)
	if m == nil {
		m = allocClass(c)
		m.self = m
	}
	m.refs = 1
	m.Payload = payloadArray(m, n)
	copy(m.Payload, payload) // every byte of the new payload is overwritten: nothing old leaks
	return m
}

// recycle puts m, whose last reference was released, back into the pool of its size class.
// Its fields are cleared (in race-enabled builds then poisoned, so a use after release reads
// garbage a test notices: poison_race.go).
func recycle(m *Message) {
	payload := m.Payload
	*m = Message{self: m} // keep no topic or principal string alive
	poison(m, payload)
	pools[classOf(len(payload))].Put(m)
}
