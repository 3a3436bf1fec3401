package cluster

import (
	"sync"

	"github.com/astrid-actors/astrid-actors/bus"
)

// Default link limits.
const (
	// DefaultQueueBytes bounds the messages waiting to be sent to one peer (payload + topic
	// bytes): 8 MiB, room for several of the largest messages.
	DefaultQueueBytes = 8 << 20
	// DefaultWindowBytes bounds the bytes sent to one peer and not yet acknowledged: 4 MiB.
	// A link moves at most one window per round trip, so the window is sized to bandwidth ×
	// round trip: 4 MiB carries 400 MB/s (about 2.9 M messages/s of 128 bytes) at the 10 ms
	// round trip of a loaded loopback, or 1 Gbit/s at 33 ms. (512 KiB capped a loaded
	// two-process link near 0.4 M messages/s.) It also bounds what piles up for a frozen
	// peer in the route buffers of the embedded server (far below NATS's 64 MiB per
	// connection), and what a receiver holds per peer before delivering.
	DefaultWindowBytes = 4 << 20
	// DefaultBatchMessages and DefaultBatchBytes bound one frame (the first message of a frame
	// is always allowed, so a message larger than the batch still travels): 1024 messages or
	// 256 KiB. A frame costs a NATS message and an ack (a dozen goroutine hand-offs across
	// both nodes), so large frames amortise them; a frame is only as large as what is queued
	// when the writer runs, so a lone message still leaves at once.
	DefaultBatchMessages = 1024
	DefaultBatchBytes    = 256 << 10
	// MaxBatchBytes bounds Limits.BatchBytes: a frame (its batch plus one message of up to
	// abi.MaxPayloadBytes and a loss report) must fit the 8 MiB NATS payload limit of the nodes.
	MaxBatchBytes = 4 << 20
	// maxLossEntries bounds the loss report entries of one frame; the rest waits for the next.
	maxLossEntries = 1024
)

// Limits bound one link's sender. Zero fields take the defaults.
type Limits struct {
	QueueBytes    int
	WindowBytes   int
	BatchMessages int
	BatchBytes    int
}

// WithDefaults returns l with zero fields replaced by the defaults.
func (l Limits) WithDefaults() Limits {
	if l.QueueBytes <= 0 {
		l.QueueBytes = DefaultQueueBytes
	}
	if l.WindowBytes <= 0 {
		l.WindowBytes = DefaultWindowBytes
	}
	if l.BatchMessages <= 0 {
		l.BatchMessages = DefaultBatchMessages
	}
	if l.BatchBytes <= 0 {
		l.BatchBytes = DefaultBatchBytes
	}
	l.BatchBytes = min(l.BatchBytes, MaxBatchBytes)
	return l
}

// SendStats are the cumulative counters of a sender over all its sessions. Every enqueued
// message is eventually counted once as acked or lost, or is still queued or in flight:
//
//	Enqueued == Acked + LostQueued + LostUnacked + LostTransit + Queued + InFlight
type SendStats struct {
	// Enqueued counts messages offered to the link.
	Enqueued uint64
	// Sent counts messages written to the peer in a frame; Frames counts the frames.
	Sent, Frames uint64
	// Acked counts sent messages the peer acknowledged.
	Acked uint64
	// LostQueued counts messages evicted from the full queue (the oldest first) or still queued
	// when the session ended.
	LostQueued uint64
	// LostUnacked counts sent messages without an ack when the session ended (the peer died
	// or was cut off); some of them may have reached it, so this is an upper bound.
	LostUnacked uint64
	// LostTransit counts sent messages the peer reported missing (a gap in the sequence).
	LostTransit uint64
	// Queued and QueuedBytes describe what waits to be sent; InFlight and InFlightBytes what
	// was sent and is not acknowledged yet.
	Queued, QueuedBytes, InFlight, InFlightBytes int
	// Sessions counts the sessions opened (one per time the peer joined).
	Sessions uint64
}

// Lost is the total of messages lost on the link.
func (s SendStats) Lost() uint64 { return s.LostQueued + s.LostUnacked + s.LostTransit }

// queued is a message waiting to be sent, with the fence of the lease it was published under
// (an empty key: not fenced).
type queued struct {
	m     *bus.Message
	key   string
	token uint64
}

type inflight struct {
	seq   uint64
	topic string
	size  int
}

// Sender is the sending half of a link: a byte-bounded queue that evicts its oldest message
// (counted) instead of blocking, a window of sent but unacknowledged messages bounded in bytes,
// and the loss report for the peer. It is safe for concurrent use.
type Sender struct {
	limits Limits

	mu      sync.Mutex
	open    bool
	session uint64
	next    uint64
	queue   []queued
	qhead   int
	qbytes  int
	unacked []inflight
	uhead   int
	ubytes  int
	losses  map[string]uint64
	// lossTopic and lossRun are the latest run of evictions on one topic, not yet added to
	// losses: a full queue evicts on every enqueue, mostly runs of one topic, and counting a
	// run beats hashing the topic each time.
	lossTopic string
	lossRun   uint64
	stats     SendStats
}

// NewSender returns a closed sender; Open starts a session.
func NewSender(limits Limits) *Sender {
	return &Sender{limits: limits.WithDefaults(), losses: make(map[string]uint64)}
}

// Open starts a session with the given id; its first message gets link sequence number 1.
// A session still open is closed first (its messages counted as lost).
func (s *Sender) Open(session uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open {
		s.closeLocked()
	}
	s.open, s.session, s.next = true, session, 1
	s.stats.Sessions++
}

// Session returns the current session id and whether it is open.
func (s *Sender) Session() (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.session, s.open
}

// Enqueue queues m for the peer, evicting the oldest queued messages (counted as LostQueued
// and reported to the peer) while the queue exceeds its byte budget. It never blocks. It
// reports false, counting nothing, when no session is open.
func (s *Sender) Enqueue(m *bus.Message) bool { return s.EnqueueFenced(m, "", 0) }

// EnqueueFenced is Enqueue for a message published under lease key with fence token (see
// Fence); an empty key means no fence.
func (s *Sender) EnqueueFenced(m *bus.Message, key string, token uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.open {
		return false
	}
	s.stats.Enqueued++
	s.queue = append(s.queue, queued{m, key, token})
	s.qbytes += m.Size()
	for s.qbytes > s.limits.QueueBytes && s.qlen() > 1 {
		old := s.popQueue()
		s.stats.LostQueued++
		s.lose(old.Topic)
	}
	return true
}

// lose adds one message lost on topic to the loss report.
func (s *Sender) lose(topic string) {
	if s.lossRun > 0 && topic == s.lossTopic {
		s.lossRun++
		return
	}
	s.flushLossRun()
	s.lossTopic, s.lossRun = topic, 1
}

func (s *Sender) flushLossRun() {
	if s.lossRun > 0 {
		s.losses[s.lossTopic] += s.lossRun
		s.lossTopic, s.lossRun = "", 0
	}
}

func (s *Sender) qlen() int { return len(s.queue) - s.qhead }

func (s *Sender) popQueue() *bus.Message {
	m := s.queue[s.qhead].m
	s.queue[s.qhead] = queued{}
	s.qhead++
	s.qbytes -= m.Size()
	if s.qhead == len(s.queue) {
		s.queue, s.qhead = s.queue[:0], 0
	} else if s.qhead > 64 && s.qhead*2 > len(s.queue) {
		n := copy(s.queue, s.queue[s.qhead:])
		clear(s.queue[n:])
		s.queue, s.qhead = s.queue[:n], 0
	}
	return m
}

func (s *Sender) popUnacked() inflight {
	e := s.unacked[s.uhead]
	s.unacked[s.uhead] = inflight{}
	s.uhead++
	s.ubytes -= e.size
	if s.uhead == len(s.unacked) {
		s.unacked, s.uhead = s.unacked[:0], 0
	} else if s.uhead > 64 && s.uhead*2 > len(s.unacked) {
		n := copy(s.unacked, s.unacked[s.uhead:])
		clear(s.unacked[n:])
		s.unacked, s.uhead = s.unacked[:n], 0
	}
	return e
}

// Next returns the next frame to send, or nil when there is nothing to send or the window is
// full. The frame's messages move to the window; the pending loss report is attached (and
// cleared). A frame with a loss report and no messages is returned even when the window is full.
func (s *Sender) Next(from string) *Frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.open {
		return nil
	}
	f := &Frame{From: from, Session: s.session, First: s.next}
	bytes := 0
	for s.qlen() > 0 && len(f.Messages) < s.limits.BatchMessages {
		q := s.queue[s.qhead]
		m := q.m
		size := m.Size()
		if len(f.Messages) > 0 && bytes+size > s.limits.BatchBytes {
			break
		}
		if s.ubytes > 0 && s.ubytes+size > s.limits.WindowBytes {
			break
		}
		s.popQueue()
		s.unacked = append(s.unacked, inflight{seq: s.next, topic: m.Topic, size: size})
		s.ubytes += size
		s.next++
		bytes += size
		if q.key != "" {
			f.Fences = append(f.Fences, Fence{Index: uint32(len(f.Messages)), Key: q.key, Token: q.token})
		}
		if f.Messages == nil {
			f.Messages = make([]*bus.Message, 0, min(s.qlen()+1, s.limits.BatchMessages))
		}
		f.Messages = append(f.Messages, m)
	}
	s.flushLossRun()
	for topic, n := range s.losses {
		if len(f.Losses) == maxLossEntries {
			break
		}
		f.Losses = append(f.Losses, Loss{Topic: topic, Count: n})
		delete(s.losses, topic)
	}
	if len(f.Messages) == 0 && len(f.Losses) == 0 {
		return nil
	}
	s.stats.Sent += uint64(len(f.Messages))
	s.stats.Frames++
	return f
}

// Ack applies an acknowledgement of the current session: messages up to a.Through leave the
// window, as acked or — those in a.Missing — as LostTransit, reported to the peer. It returns
// whether the window moved (the caller may have more to send).
func (s *Sender) Ack(a *Ack) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.open || a.Session != s.session {
		return false
	}
	moved := false
	for s.uhead < len(s.unacked) && s.unacked[s.uhead].seq <= a.Through {
		e := s.popUnacked()
		moved = true
		if missing(a.Missing, e.seq) {
			s.stats.LostTransit++
			s.lose(e.topic)
			continue
		}
		s.stats.Acked++
	}
	return moved
}

func missing(rs []Range, seq uint64) bool {
	for _, r := range rs {
		if seq >= r.From && seq <= r.To {
			return true
		}
	}
	return false
}

// Close ends the session: what is in the window counts as LostUnacked, what is queued as
// LostQueued. The loss report is discarded (the peer of this session is gone). It returns the
// two counts of this session end.
func (s *Sender) Close() (lostUnacked, lostQueued uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.open {
		return 0, 0
	}
	return s.closeLocked()
}

func (s *Sender) closeLocked() (lostUnacked, lostQueued uint64) {
	lostUnacked = uint64(len(s.unacked) - s.uhead)
	lostQueued = uint64(s.qlen())
	s.stats.LostUnacked += lostUnacked
	s.stats.LostQueued += lostQueued
	clear(s.queue)
	clear(s.unacked)
	s.queue, s.qhead, s.qbytes = s.queue[:0], 0, 0
	s.unacked, s.uhead, s.ubytes = s.unacked[:0], 0, 0
	clear(s.losses)
	s.lossTopic, s.lossRun = "", 0
	s.open = false
	return lostUnacked, lostQueued
}

// Stats returns a snapshot of the counters.
func (s *Sender) Stats() SendStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Queued, st.QueuedBytes = s.qlen(), s.qbytes
	st.InFlight, st.InFlightBytes = len(s.unacked)-s.uhead, s.ubytes
	return st
}

// RecvStats are the counters of a receiver.
type RecvStats struct {
	// Received counts messages accepted in sequence.
	Received uint64
	// Missing counts link sequence numbers skipped by the sender's frames (lost in transit).
	Missing uint64
	// Duplicates counts messages with a sequence number already received.
	Duplicates uint64
	// Sessions counts the sender sessions seen.
	Sessions uint64
}

// Receiver is the receiving half of a link: it checks the sequence numbers of one sender's
// frames and builds the acks. One goroutine uses it at a time (the node's data handler), but
// Stats may be read concurrently.
type Receiver struct {
	mu      sync.Mutex
	session uint64
	next    uint64
	started bool
	stats   RecvStats
}

// Accept checks f and returns the messages to deliver (in order, without duplicates) and the
// ack to send back. A frame of a new session resets the expected sequence to 1.
func (r *Receiver) Accept(f *Frame, self string) ([]*bus.Message, *Ack) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started || f.Session != r.session {
		r.started, r.session, r.next = true, f.Session, 1
		r.stats.Sessions++
	}
	ack := &Ack{From: self, Session: f.Session}
	if f.First > r.next {
		ack.Missing = []Range{{From: r.next, To: f.First - 1}}
		r.stats.Missing += f.First - r.next
		r.next = f.First
	}
	msgs := f.Messages
	if f.First < r.next {
		skip := min(r.next-f.First, uint64(len(msgs)))
		r.stats.Duplicates += skip
		msgs = msgs[skip:]
	}
	r.next += uint64(len(msgs))
	r.stats.Received += uint64(len(msgs))
	ack.Through = r.next - 1
	return msgs, ack
}

// Stats returns a snapshot of the counters.
func (r *Receiver) Stats() RecvStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}
