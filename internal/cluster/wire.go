// Package cluster holds the wire format and the pure data structures of the cluster link layer:
// frame and ack codecs, the subject-token escaping and the byte-bounded link queue. The public
// package cluster (the node, its NATS server and its links) is built on it.
package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/bus"
)

// Wire versions and frame kinds.
const (
	wireVersion = 3
	kindData    = 1
	kindAck     = 2
)

// Flags of a message in a frame: fields equal to the previous message's are left out (a frame
// mostly repeats one topic, principal and source).
const (
	sameTopic     = 1 << 0
	samePrincipal = 1 << 1
	sameSource    = 1 << 2
	knownFlags    = sameTopic | samePrincipal | sameSource
)

// ErrBadFrame is returned (wrapped) for a frame that cannot be decoded.
var ErrBadFrame = errors.New("cluster: malformed frame")

// Loss is a loss report entry: Count messages on Topic were lost on a link.
type Loss struct {
	Topic string
	Count uint64
}

// Fence marks message Index of a frame as published by the instance of a cluster-placed
// capsule holding lease Key with fence Token (the lease's claim revision). Receivers refuse a
// message whose token is older than the newest they know for the key.
type Fence struct {
	Index uint32
	Key   string
	Token uint64
}

// Frame is one batch of messages on a link, from the node From to the frame's subject's node.
// The messages carry link sequence numbers First, First+1, …; a frame with no messages only
// carries a loss report and First is the next sequence number the sender will use.
type Frame struct {
	From     string
	Session  uint64
	First    uint64
	Losses   []Loss
	Messages []*bus.Message
	// Fences lists the fenced messages, by index, in increasing order; most frames have none.
	Fences []Fence
}

// Range is an inclusive range of link sequence numbers.
type Range struct{ From, To uint64 }

// Ack acknowledges every link sequence number up to Through of the session, except those in
// Missing, which the receiver never got.
type Ack struct {
	From    string
	Session uint64
	Through uint64
	Missing []Range
}

var le = binary.LittleEndian

func appendStr16(b []byte, s string) []byte {
	b = le.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// MessageWireSize bounds the encoded size of one message in a frame (the size when it repeats
// nothing of the previous message).
func MessageWireSize(m *bus.Message) int {
	return 1 + binary.MaxVarintLen64 + binary.MaxVarintLen64 + 16 + 1 + 2 + len(m.Principal.ID) + 2 + len(m.Topic) +
		binary.MaxVarintLen32 + len(m.Payload)
}

// AppendFrame encodes f after b. Strings longer than 65535 bytes are not representable; topics
// (≤ 256 bytes), principal ids and node names are far below that.
//
// A message is a flags byte, its bus sequence number and its time in Unix nanoseconds as
// signed varint deltas from the previous message's (from 0 for the first), then — unless the
// flags say they equal the previous message's — its source, principal (kind, id) and topic,
// and its payload (uvarint length, bytes). A run of 128-byte messages on one topic takes about
// 136 bytes a message instead of 179 with every field spelled out.
func AppendFrame(b []byte, f *Frame) []byte {
	b = append(b, wireVersion, kindData)
	b = appendStr16(b, f.From)
	b = le.AppendUint64(b, f.Session)
	b = le.AppendUint64(b, f.First)
	b = le.AppendUint32(b, uint32(len(f.Losses)))
	for _, l := range f.Losses {
		b = appendStr16(b, l.Topic)
		b = le.AppendUint64(b, l.Count)
	}
	b = le.AppendUint32(b, uint32(len(f.Messages)))
	var prev *bus.Message
	var prevSeq uint64
	var prevNs int64
	for _, m := range f.Messages {
		var flags byte
		if prev != nil {
			if m.Topic == prev.Topic {
				flags |= sameTopic
			}
			if m.Principal == prev.Principal {
				flags |= samePrincipal
			}
			if m.Source == prev.Source {
				flags |= sameSource
			}
		}
		ns := m.Time.UnixNano()
		b = append(b, flags)
		b = binary.AppendVarint(b, int64(m.Seq-prevSeq))
		b = binary.AppendVarint(b, ns-prevNs)
		if flags&sameSource == 0 {
			b = append(b, m.Source[:]...)
		}
		if flags&samePrincipal == 0 {
			b = append(b, byte(m.Principal.Kind))
			b = appendStr16(b, m.Principal.ID)
		}
		if flags&sameTopic == 0 {
			b = appendStr16(b, m.Topic)
		}
		b = binary.AppendUvarint(b, uint64(len(m.Payload)))
		b = append(b, m.Payload...)
		prev, prevSeq, prevNs = m, m.Seq, ns
	}
	b = le.AppendUint32(b, uint32(len(f.Fences)))
	for _, fe := range f.Fences {
		b = le.AppendUint32(b, fe.Index)
		b = appendStr16(b, fe.Key)
		b = le.AppendUint64(b, fe.Token)
	}
	return b
}

// reader decodes a frame; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.err = fmt.Errorf("%w: truncated", ErrBadFrame)
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() byte {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if b := r.take(2); b != nil {
		return le.Uint16(b)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if b := r.take(4); b != nil {
		return le.Uint32(b)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.take(8); b != nil {
		return le.Uint64(b)
	}
	return 0
}

func (r *reader) str16() string { return string(r.take(int(r.u16()))) }

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("%w: bad varint", ErrBadFrame)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("%w: bad varint", ErrBadFrame)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a u32 element count and checks that at least min bytes per element remain, so a
// corrupt count cannot make the decoder allocate without bound.
func (r *reader) count(min int) int {
	n := r.u32()
	if r.err == nil && uint64(n)*uint64(min) > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: count %d exceeds the frame", ErrBadFrame, n)
		return 0
	}
	return int(n)
}

func (r *reader) header(kind byte) {
	if v := r.u8(); r.err == nil && v != wireVersion {
		r.err = fmt.Errorf("%w: version %d, want %d", ErrBadFrame, v, wireVersion)
	}
	if k := r.u8(); r.err == nil && k != kind {
		r.err = fmt.Errorf("%w: kind %d, want %d", ErrBadFrame, k, kind)
	}
}

// DecodeFrame decodes a data frame. The messages own copies of their payloads, allocated in
// chunks of consecutive messages of one topic (see slab), never in the frame's buffer.
func DecodeFrame(b []byte) (*Frame, error) {
	r := &reader{b: b}
	r.header(kindData)
	f := &Frame{From: r.str16(), Session: r.u64(), First: r.u64()}
	if n := r.count(10); n > 0 {
		f.Losses = make([]Loss, 0, n)
		for range n {
			f.Losses = append(f.Losses, Loss{Topic: r.str16(), Count: r.u64()})
		}
	}
	if n := r.count(4); n > 0 { // flags, seq, time and payload length take a byte each at least
		f.Messages = make([]*bus.Message, 0, n)
		var (
			seq       uint64
			ns        int64
			src       uuid.UUID
			principal bus.Principal
			topic     string
			sl        slab
		)
		for i := range n {
			flags := r.u8()
			if r.err == nil && (flags&^knownFlags != 0 || (i == 0 && flags != 0)) {
				r.err = fmt.Errorf("%w: message %d: flags %#x", ErrBadFrame, i, flags)
			}
			seq += uint64(r.varint())
			ns += r.varint()
			if flags&sameSource == 0 {
				copy(src[:], r.take(len(uuid.UUID{})))
			}
			if flags&samePrincipal == 0 {
				principal = bus.Principal{Kind: abi.PrincipalKind(r.u8()), ID: r.str16()}
			}
			if flags&sameTopic == 0 {
				topic = r.str16()
			}
			size := r.uvarint()
			if r.err == nil && size > uint64(len(r.b)) {
				r.err = fmt.Errorf("%w: truncated", ErrBadFrame)
			}
			if r.err != nil {
				break
			}
			m := sl.next(flags&sameTopic != 0, r.take(int(size)))
			at := time.Unix(0, 0)
			if ns > 0 {
				at = time.Unix(0, ns)
			}
			m.Seq, m.Time, m.Source, m.Topic, m.Principal = seq, at, src, topic, principal
			f.Messages = append(f.Messages, m)
		}
	}
	if n := r.count(14); n > 0 {
		f.Fences = make([]Fence, 0, n)
		for range n {
			fe := Fence{Index: r.u32(), Key: r.str16(), Token: r.u64()}
			if r.err == nil && int(fe.Index) >= len(f.Messages) {
				r.err = fmt.Errorf("%w: fence of message %d in a frame of %d", ErrBadFrame, fe.Index, len(f.Messages))
			}
			f.Fences = append(f.Fences, fe)
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d trailing bytes", ErrBadFrame, len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	return f, nil
}

// Chunks of decoded messages: at most slabMessages messages of one topic and slabBytes of
// payload share two allocations (the messages, their payloads).
const (
	slabMessages = 16
	slabBytes    = 4 << 10
)

// slab allocates the messages of a frame in chunks. A chunk holds consecutive messages of one
// topic, so they go to the same subscriptions and are usually released together; a message
// kept long (a slow subscriber, a cache) pins at most its chunk, never the frame. Chunk sizes
// double along a run of one topic (1, 2, 4, 8, 16), so a frame of mixed topics allocates
// one object per message, as Publish does (bus.NewMessage).
type slab struct {
	ms     []bus.Message // unused messages of the current chunk
	pb     []byte        // unused payload bytes of the current chunk
	chunks int           // chunks started in the current run of one topic
}

// next returns a message holding a copy of payload; sameTopic says whether it has the topic
// of the previous message.
func (s *slab) next(sameTopic bool, payload []byte) *bus.Message {
	if !sameTopic {
		s.ms, s.pb, s.chunks = nil, nil, 0
	}
	n := len(payload)
	if len(s.ms) == 0 || len(s.pb) < n {
		k := min(slabMessages, 1<<min(s.chunks, 8))
		if n > 0 {
			k = min(k, slabBytes/n)
		}
		s.chunks++
		if k <= 1 {
			s.ms, s.pb = nil, nil
			return bus.NewMessage(payload)
		}
		s.ms, s.pb = make([]bus.Message, k), make([]byte, k*n)
	}
	m := &s.ms[0]
	s.ms = s.ms[1:]
	m.Payload = s.pb[:n:n]
	s.pb = s.pb[n:]
	copy(m.Payload, payload)
	return m
}

// AppendAck encodes a after b.
func AppendAck(b []byte, a *Ack) []byte {
	b = append(b, wireVersion, kindAck)
	b = appendStr16(b, a.From)
	b = le.AppendUint64(b, a.Session)
	b = le.AppendUint64(b, a.Through)
	b = le.AppendUint32(b, uint32(len(a.Missing)))
	for _, m := range a.Missing {
		b = le.AppendUint64(b, m.From)
		b = le.AppendUint64(b, m.To)
	}
	return b
}

// DecodeAck decodes an ack.
func DecodeAck(b []byte) (*Ack, error) {
	r := &reader{b: b}
	r.header(kindAck)
	a := &Ack{From: r.str16(), Session: r.u64(), Through: r.u64()}
	if n := r.count(16); n > 0 {
		a.Missing = make([]Range, 0, n)
		for range n {
			a.Missing = append(a.Missing, Range{From: r.u64(), To: r.u64()})
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d trailing bytes", ErrBadFrame, len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	return a, nil
}

// Token escapes s for use as one token of a NATS subject: every byte that NATS gives a
// meaning ('.', '*', '>'), whitespace, control bytes, DEL and '%' itself are written as %XX
// (upper-case hex); every other byte, including UTF-8, is kept. The empty string becomes a lone
// "%", which no other input produces (an escaped '%' is always followed by two hex digits).
//
// The mapping is injective: distinct inputs give distinct tokens, and a token never contains a
// subject separator or wildcard.
func Token(s string) string {
	if s == "" {
		return "%"
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == 0x7f || c == '.' || c == '*' || c == '>' || c == '%' {
			const hex = "0123456789ABCDEF"
			sb.WriteByte('%')
			sb.WriteByte(hex[c>>4])
			sb.WriteByte(hex[c&15])
			continue
		}
		sb.WriteByte(c)
	}
	return sb.String()
}
