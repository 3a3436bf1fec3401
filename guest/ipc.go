package guest

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/astrid-actors/astrid-actors/abi"
)

// Publish publishes payload, which must be JSON text, on topic. The message carries the
// principal of the message being handled (see Caller), or the capsule owner's.
//
// The host's checks, their order and codes are docs/abi.md §5.1 (ErrInvalidInput,
// ErrRateLimited, ErrCapabilityDenied, ErrTooLarge; ErrClosed while the capsule is stopping).
func Publish(topic string, payload []byte) error {
	return callErr(fnPublish, topic, host.publish(topic, bytesString(payload)))
}

// PublishJSON marshals v with encoding/json and publishes it on topic like Publish. A marshal
// error is returned as is (CodeOf reports it as abi.Unknown) and nothing is published.
func PublishJSON(topic string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("astrid publish %s: %w", topic, err)
	}
	return Publish(topic, b)
}

// PublishAs publishes payload on topic on behalf of principal, an id of 1 to
// abi.MaxPrincipalBytes ASCII letters, digits, '_' or '-' (abi.ValidPrincipal); receivers see
// it as PrincipalClaimed. It needs [capabilities] uplink = true (else ErrCapabilityDenied); a
// bad principal is ErrInvalidInput. Otherwise it behaves like Publish.
func PublishAs(topic string, payload []byte, principal string) error {
	return callErr(fnPublishAs, topic, host.publishAs(topic, bytesString(payload), principal))
}

// Record is one message of PublishBatch: payload (JSON text) on topic.
type Record struct {
	Topic   string
	Payload []byte
}

// PublishBatch publishes records in order with one host call (publish-batch of
// astrid:ipc@1.1.0, ABI §6.1; a capsule that calls it needs a host serving 1.1). Each record
// gets exactly the checks and effects of Publish, as the same principal; subscribers cannot
// tell the batch from single publishes. The batch stops at the first record that fails: it
// returns the number of records published and nil when all were, else that record's error
// (naming its topic). More than abi.MaxBatchRecords records, or more than abi.MaxBatchBytes
// of encoded records (8 bytes + topic + payload each), is ErrTooLarge with nothing published.
func PublishBatch(records ...Record) (int, error) {
	if len(records) > abi.MaxBatchRecords {
		return 0, callErr(fnBatch, "", abi.TooLarge)
	}
	size := 0
	for _, r := range records {
		size += abi.BatchRecordHeaderSize + len(r.Topic) + len(r.Payload)
		if size > abi.MaxBatchBytes {
			return 0, callErr(fnBatch, "", abi.TooLarge)
		}
	}
	buf := make([]byte, 0, size)
	for _, r := range records {
		buf = abi.AppendBatchRecord(buf, r.Topic, r.Payload)
	}
	var accepted uint32
	code := host.batch(buf, &accepted)
	n := int(min(accepted, uint32(len(records))))
	if code == abi.OK {
		return n, nil
	}
	topic := ""
	if n < len(records) {
		topic = records[n].Topic
	}
	return n, callErr(fnBatch, topic, code)
}

// Subscription is a live subscription to a topic pattern. Messages published on matching topics
// after Subscribe returns queue up on the host until Poll or Recv fetches them.
//
// A Subscription owns one receive buffer, DefaultRecvBuffer (64 KiB) at first. When the next
// message does not fit, the buffer grows to the size the host asks for (about 1 MiB + 400 bytes
// for a maximal message) and keeps that size for reuse until Close. A Subscription is not safe for concurrent use; use it from the goroutine of
// the run export (goroutines only run while an export runs anyway).
type Subscription struct {
	handle  uint32
	pattern string
	buf     []byte
	closed  bool
}

// Subscribe subscribes to pattern: a topic, or a topic whose last segment is '*', which then
// matches one or more further segments ("agg.reply.*" matches "agg.reply.w1" and
// "agg.reply.w1.x"; a bare "*" matches any one-segment topic).
//
// Errors: ErrInvalidInput for a bad pattern (over abi.MaxTopicBytes bytes, an empty segment, a
// '*' anywhere but as the whole last segment, over abi.MaxTopicSegments segments);
// ErrCapabilityDenied when the manifest's [subscribe] ACL does not cover it; ErrQuota beyond
// abi.MaxSubscriptions live subscriptions; ErrClosed while the capsule is stopping.
func Subscribe(pattern string) (*Subscription, error) {
	var h uint32
	if err := callErr(fnSubscribe, pattern, host.subscribe(pattern, &h)); err != nil {
		return nil, err
	}
	return &Subscription{handle: h, pattern: pattern}, nil
}

// Handle returns the host's handle number of the subscription (unique within this capsule
// instance, never reused).
func (s *Subscription) Handle() uint32 { return s.handle }

// Pattern returns the pattern passed to Subscribe.
func (s *Subscription) Pattern() string { return s.pattern }

// Poll returns what is queued without blocking: an empty Batch when nothing is. Errors:
// ErrClosed after Close or while the capsule is stopping; ErrTruncated (wrapped) if the host
// wrote a malformed envelope.
//
// One batch carries at most abi.MaxEnvelopePayloadBytes of payload and messages of a single
// principal; the rest stays queued for the next call. When the next message does not fit the
// receive buffer, the SDK grows the buffer to the size the host asks for and calls again
// (nothing is lost: the host consumes nothing when it answers buffer-too-small).
func (s *Subscription) Poll() (Batch, error) {
	if s.closed {
		return Batch{}, callErr(fnPoll, s.pattern, abi.Closed)
	}
	poll := func(buf []byte, n *uint32) abi.Code { return host.poll(s.handle, buf, n) }
	return s.receive(fnPoll, poll, poll)
}

// Recv blocks until at least one message is queued, the timeout passes, or the capsule is
// stopping, and returns what is queued like Poll.
//
// timeout is rounded up to whole milliseconds; zero or negative means do not block, and the
// host clamps it to abi.MaxRecvTimeoutMillis (60 s). A timeout is not an error: it returns an
// empty Batch and nil. When the capsule is stopping Recv returns ErrCancelled (a run loop should
// then return); ErrClosed after Close.
//
// If the first queued message does not fit the receive buffer, the SDK grows the buffer and
// retries at once as a Poll (the message is known to be ready, so it does not block again).
func (s *Subscription) Recv(timeout time.Duration) (Batch, error) {
	if s.closed {
		return Batch{}, callErr(fnRecv, s.pattern, abi.Closed)
	}
	ms := millis(timeout)
	recv := func(buf []byte, n *uint32) abi.Code { return host.recv(s.handle, ms, buf, n) }
	poll := func(buf []byte, n *uint32) abi.Code { return host.poll(s.handle, buf, n) }
	return s.receive(fnRecv, recv, poll)
}

func (s *Subscription) receive(fn string, first, again bufCall) (Batch, error) {
	if s.buf == nil {
		s.buf = make([]byte, DefaultRecvBuffer)
	}
	buf, data, code := fetch(s.buf, first, again)
	s.buf = buf
	if code != abi.OK {
		return Batch{}, callErr(fn, s.pattern, code)
	}
	env, err := abi.DecodeEnvelope(data)
	if err != nil {
		return Batch{}, fmt.Errorf("astrid %s %s: %w", fn, s.pattern, err)
	}
	return batchOf(env), nil
}

// Close unsubscribes (subscription-drop). Messages still queued are discarded and counted by the
// host. Closing a closed Subscription returns ErrClosed without calling the host; after Close,
// Poll, Recv and Wait return ErrClosed.
func (s *Subscription) Close() error {
	if s.closed {
		return callErr(fnDrop, s.pattern, abi.Closed)
	}
	s.closed = true
	s.buf = nil
	return callErr(fnDrop, s.pattern, host.drop(s.handle))
}

// Wait blocks until at least one of subs has a message queued, the timeout passes (rounded up
// to whole milliseconds, clamped by the host to 60 s; zero or negative means do not block), or
// the capsule is stopping, and returns the subscriptions that are ready, in the order of subs. A
// timeout returns no subscriptions and nil. Wait consumes nothing: follow it with Poll on the
// ready ones.
//
// Errors: ErrInvalidInput for no subscriptions or a nil one, ErrClosed if one is closed,
// ErrTooLarge for more than abi.MaxWaitHandles, ErrCancelled when the capsule is stopping.
func Wait(timeout time.Duration, subs ...*Subscription) ([]*Subscription, error) {
	if len(subs) == 0 {
		return nil, callErr(fnWait, "", abi.InvalidInput)
	}
	handles := make([]uint32, len(subs))
	for i, s := range subs {
		switch {
		case s == nil:
			return nil, callErr(fnWait, "", abi.InvalidInput)
		case s.closed:
			return nil, callErr(fnWait, s.pattern, abi.Closed)
		}
		handles[i] = s.handle
	}
	ms := millis(timeout)
	ready := make([]uint32, len(subs))
	var n uint32
	// The ready buffer has room for every handle, so buffer-too-small cannot happen.
	if err := callErr(fnWait, "", host.wait(handles, ms, ready, &n)); err != nil {
		return nil, err
	}
	n = min(n/abi.WaitHandleSize, uint32(len(ready))) // the host writes the length in bytes
	var out []*Subscription
	for i, s := range subs {
		if isReady(s.handle, ready[:n]) && !seen(s, subs[:i]) {
			out = append(out, s)
		}
	}
	return out, nil
}

func isReady(h uint32, ready []uint32) bool {
	for _, r := range ready {
		if r == h {
			return true
		}
	}
	return false
}

func seen(s *Subscription, before []*Subscription) bool {
	for _, b := range before {
		if b == s {
			return true
		}
	}
	return false
}

// millis converts a timeout to whole milliseconds, rounding up so that a positive timeout never
// becomes a non-blocking call; zero and negative give 0.
func millis(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	ms := int64(d / time.Millisecond)
	if d%time.Millisecond != 0 {
		ms++
	}
	return ms
}
