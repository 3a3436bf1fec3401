package hostfuncs

import (
	"context"
	"errors"
	"time"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/topics"
)

// Audit names of the ipc functions.
const (
	fnPublish   = "astrid:ipc/publish"
	fnPublishAs = "astrid:ipc/publish-as"
	fnSubscribe = "astrid:ipc/subscribe"
	fnPoll      = "astrid:ipc/subscription-poll"
	fnRecv      = "astrid:ipc/subscription-recv"
	fnWait      = "astrid:ipc/subscription-wait"
	fnDrop      = "astrid:ipc/subscription-drop"
	fnBindings  = "astrid:ipc/get-interceptor-bindings"
)

// effectivePrincipal is the principal a plain publish carries: the principal of the message
// being handled, or the owner when there is none or it was a system message (as in Astrid, a
// capsule answering the runtime acts as its owner).
func (in *Instance) effectivePrincipal() bus.Principal {
	c := in.caller.Load()
	if c == nil || c.Principal.Kind == abi.PrincipalSystem {
		return bus.Verified(in.cfg.Owner)
	}
	return c.Principal
}

// abiPublish implements ipc publish.
func (in *Instance) abiPublish(mem guestMemory, topicPtr, topicLen, payloadPtr, payloadLen uint32) abi.Code {
	p := in.effectivePrincipal()
	topic, code := in.publish(mem, topicPtr, topicLen, payloadPtr, payloadLen, p)
	in.auditCall(fnPublish, p, topic, "bytes", int(payloadLen), code)
	return code
}

// abiPublishAs implements ipc publish-as: an uplink capsule publishes on behalf of a principal it
// names; receivers see it as claimed.
// The audit line names the claimed principal once it is valid, and the caller's before.
func (in *Instance) abiPublishAs(mem guestMemory, topicPtr, topicLen, payloadPtr, payloadLen, prPtr, prLen uint32) abi.Code {
	p, topic, code := in.publishAs(mem, topicPtr, topicLen, payloadPtr, payloadLen, prPtr, prLen)
	in.auditCall(fnPublishAs, p, topic, "bytes", int(payloadLen), code)
	return code
}

func (in *Instance) publishAs(mem guestMemory, topicPtr, topicLen, payloadPtr, payloadLen, prPtr, prLen uint32) (bus.Principal, string, abi.Code) {
	caller := in.effectivePrincipal()
	// Range checks come before every other check (ABI §1).
	if !mem.inRange(topicPtr, topicLen) || !mem.inRange(payloadPtr, payloadLen) || !mem.inRange(prPtr, prLen) {
		return caller, "", abi.InvalidInput
	}
	if !in.cfg.Grants.Uplink {
		return caller, "", abi.CapabilityDenied
	}
	if prLen > abi.MaxPrincipalBytes {
		return caller, "", abi.InvalidInput
	}
	principal, ok := mem.str(prPtr, prLen)
	if !ok || !abi.ValidPrincipal(principal) {
		return caller, "", abi.InvalidInput
	}
	claimed := bus.Claimed(principal)
	topic, code := in.publish(mem, topicPtr, topicLen, payloadPtr, payloadLen, claimed)
	return claimed, topic, code
}

// publish is the shared publish path; its checks and their order are docs/abi.md §5.1.
func (in *Instance) publish(mem guestMemory, topicPtr, topicLen, payloadPtr, payloadLen uint32, p bus.Principal) (string, abi.Code) {
	view, ok := mem.view(topicPtr, topicLen)
	if !ok {
		return "", abi.InvalidInput
	}
	// The payload is validated where it lies in guest memory (the guest does not run during
	// the call) and copied once, by the bus, only if accepted.
	payload, ok := mem.view(payloadPtr, payloadLen)
	if !ok {
		return "", abi.InvalidInput
	}
	if topicLen > abi.MaxTopicBytes {
		return "", abi.InvalidInput
	}
	// A run loop usually publishes on the same topic again and again: the last topic that
	// passed validation and the ACL is kept, and a publish on it skips both checks (their
	// results depend only on the topic and the immutable grants) and the string allocation.
	topic, checked := in.lastTopic, string(view) == in.lastTopic && in.lastTopic != ""
	if !checked {
		topic = string(view)
	}
	// One clock reading per publish: the rate window's and the message's timestamp.
	now := in.cfg.Bus.Now()
	charged, ok := in.limiter.admit(p, int(payloadLen), in.shared.rateNow(now))
	if !ok {
		return topic, abi.RateLimited
	}
	if !checked {
		if topics.Validate(topic, topics.GuestLimits) != nil {
			in.limiter.refund(charged)
			return topic, abi.InvalidInput
		}
		if !anyMatch(in.cfg.Grants.Publish, topic, topics.MatchRoute) {
			in.limiter.refund(charged)
			return topic, abi.CapabilityDenied
		}
		in.lastTopic = topic
	}
	if payloadLen > abi.MaxPayloadBytes {
		in.limiter.refund(charged)
		return topic, abi.InvalidInput
	}
	if _, err := in.pub.PublishAt(topic, payload, in.cfg.InstanceID, p, now); err != nil {
		in.limiter.refund(charged)
		return topic, codeOfBusError(err)
	}
	in.counters.published.Add(1)
	return topic, abi.OK
}

func anyMatch(keys []string, s string, match func(key, s string) bool) bool {
	for _, k := range keys {
		if match(k, s) {
			return true
		}
	}
	return false
}

func codeOfBusError(err error) abi.Code {
	switch {
	case errors.Is(err, bus.ErrInvalidPayload), errors.Is(err, bus.ErrInvalidTopic),
		errors.Is(err, bus.ErrInvalidPattern):
		return abi.InvalidInput
	case errors.Is(err, bus.ErrPayloadTooLarge):
		return abi.TooLarge
	case errors.Is(err, bus.ErrClosed), errors.Is(err, bus.ErrFenced):
		return abi.Closed // fenced: the capsule is being stopped on this node
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return abi.Cancelled
	}
	return abi.Unknown
}

// abiSubscribe implements ipc subscribe with the seed's checks: pattern length, empty segments,
// wildcard position (exact or one trailing '*'), segment count, subscribe ACL, quota.
func (in *Instance) abiSubscribe(ctx context.Context, mem guestMemory, patPtr, patLen, handleOut uint32) abi.Code {
	pattern, handle, code := in.subscribe(ctx, mem, patPtr, patLen, handleOut)
	in.auditCall(fnSubscribe, in.effectivePrincipal(), pattern, "handle", int(handle), code)
	return code
}

func (in *Instance) subscribe(ctx context.Context, mem guestMemory, patPtr, patLen, handleOut uint32) (string, uint32, abi.Code) {
	if !mem.inRange(patPtr, patLen) || !mem.inRange(handleOut, 4) {
		return "", 0, abi.InvalidInput
	}
	if patLen > abi.MaxTopicBytes {
		return "", 0, abi.InvalidInput
	}
	pattern, _ := mem.str(patPtr, patLen)
	if topics.ValidateSubscribePattern(pattern, topics.GuestLimits) != nil {
		return pattern, 0, abi.InvalidInput
	}
	if !anyMatch(in.cfg.Grants.Subscribe, pattern, topics.AllowsSubscribe) {
		return pattern, 0, abi.CapabilityDenied
	}
	in.mu.Lock()
	if in.released {
		in.mu.Unlock()
		return pattern, 0, abi.Closed
	}
	if len(in.handles) >= in.cfg.Limits.MaxSubscriptions {
		in.mu.Unlock()
		return pattern, 0, abi.Quota
	}
	handle := newHandle()
	in.handles[handle] = nil // reserve the slot so the quota holds while the router works
	in.mu.Unlock()

	sub, err := in.cfg.Bus.Subscribe(ctx, pattern, bus.SubscribeOptions{Owner: in.cfg.InstanceID, Mailbox: in.cfg.Limits.Mailbox, Ledger: in.cfg.Ledger})
	in.mu.Lock()
	defer in.mu.Unlock()
	if err != nil || in.released {
		delete(in.handles, handle)
		if sub != nil {
			_ = sub.Close(context.Background())
			return pattern, 0, abi.Closed
		}
		return pattern, 0, codeOfBusError(err)
	}
	in.handles[handle] = sub
	mem.putU32(handleOut, handle)
	return pattern, handle, abi.OK
}

// lookup returns the live subscription behind a guest handle.
func (in *Instance) lookup(handle uint32) *bus.Subscription {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.handles[handle]
}

// abiPoll implements subscription-poll: a non-blocking drain into the guest buffer.
func (in *Instance) abiPoll(mem guestMemory, handle, bufPtr, bufCap, lenOut uint32) abi.Code {
	in.yielded()
	if !mem.inRange(bufPtr, bufCap) || !mem.inRange(lenOut, 4) {
		in.auditCall(fnPoll, in.effectivePrincipal(), "", "count", 0, abi.InvalidInput)
		return abi.InvalidInput
	}
	sub := in.lookup(handle)
	if sub == nil {
		in.auditCall(fnPoll, in.effectivePrincipal(), "", "count", 0, abi.Closed)
		return abi.Closed
	}
	n, code := in.deliver(mem, sub, bufPtr, bufCap, lenOut)
	in.auditCall(fnPoll, in.effectivePrincipal(), sub.Pattern(), "count", n, code)
	return code
}

// clampTimeout converts a guest timeout in milliseconds to a duration in [0, 60 s].
func clampTimeout(ms int64) time.Duration {
	ms = min(max(ms, 0), abi.MaxRecvTimeoutMillis)
	return time.Duration(ms) * time.Millisecond
}

// abiRecv implements subscription-recv: wait for at least one message, the timeout, or the stop
// of the capsule (cancelled), then drain like Poll.
func (in *Instance) abiRecv(ctx context.Context, mem guestMemory, handle uint32, timeoutMs int64, bufPtr, bufCap, lenOut uint32) abi.Code {
	in.BeginYield()
	defer in.EndYield()
	if !mem.inRange(bufPtr, bufCap) || !mem.inRange(lenOut, 4) {
		in.auditCall(fnRecv, in.effectivePrincipal(), "", "count", 0, abi.InvalidInput)
		return abi.InvalidInput
	}
	sub := in.lookup(handle)
	if sub == nil {
		in.auditCall(fnRecv, in.effectivePrincipal(), "", "count", 0, abi.Closed)
		return abi.Closed
	}
	if _, err := sub.Mailbox().Wait(ctx, clampTimeout(timeoutMs)); err != nil {
		code := abi.Cancelled
		if errors.Is(err, bus.ErrClosed) {
			code = abi.Closed
		}
		in.auditCall(fnRecv, in.effectivePrincipal(), sub.Pattern(), "count", 0, code)
		return code
	}
	n, code := in.deliver(mem, sub, bufPtr, bufCap, lenOut)
	in.auditCall(fnRecv, in.effectivePrincipal(), sub.Pattern(), "count", n, code)
	return code
}

// deliver drains sub into the guest buffer as an envelope (ABI §3.1). Whole messages only; if
// not even the first fits, nothing is consumed and the size needed — the header plus the first
// message — goes to lenOut with buffer-too-small (ABI §1). A non-empty batch installs its first
// message as the caller. The 1 MiB envelope budget counts payload bytes only.
func (in *Instance) deliver(mem guestMemory, sub *bus.Subscription, bufPtr, bufCap, lenOut uint32) (int, abi.Code) {
	if !mem.inRange(bufPtr, bufCap) || !mem.inRange(lenOut, 4) {
		return 0, abi.InvalidInput
	}
	// The mailbox lock is held while take runs, so take only sizes the records; they are
	// encoded after Drain returned, without blocking publishers.
	size := uint64(abi.EnvelopeHeaderSize)
	payloadBytes := 0
	batch := sub.Mailbox().Drain(in.drainBuf, drainBudget(bufCap), func(m *bus.Message) bool {
		n := uint64(abi.MessageSize(len(m.Topic), len(m.Payload), len(m.Principal.ID)))
		if size+n > uint64(bufCap) || (payloadBytes > 0 && payloadBytes+len(m.Payload) > abi.MaxEnvelopePayloadBytes) {
			return false
		}
		size += n
		payloadBytes += len(m.Payload)
		return true
	})
	in.drainBuf = batch.Messages[:0]
	if r := batch.Refused; r != nil {
		need := abi.EnvelopeHeaderSize + abi.MessageSize(len(r.Topic), len(r.Payload), len(r.Principal.ID))
		mem.putU32(lenOut, uint32(need))
		return 0, abi.BufferTooSmall
	}
	// Drain reset the mailbox's dropped and lagged counts; whatever cannot be reported now is carried to
	// the subscription's next envelope.
	carried := in.carried[sub]
	dropped, lagged := batch.Dropped+carried.dropped, batch.Lagged+carried.lagged
	if bufCap < abi.EnvelopeHeaderSize {
		// Nothing queued (else Drain refused its first message above): the smallest result is
		// an empty envelope.
		if dropped > 0 || lagged > 0 {
			if in.carried == nil {
				in.carried = map[*bus.Subscription]carriedCounts{}
			}
			in.carried[sub] = carriedCounts{dropped: dropped, lagged: lagged}
		}
		mem.putU32(lenOut, abi.EnvelopeHeaderSize)
		return 0, abi.BufferTooSmall
	}
	delete(in.carried, sub)
	// Encode straight into guest memory: the size is exact and was range-checked (it is at
	// most bufCap).
	out, _ := mem.view(bufPtr, uint32(size))
	enc := out[:abi.EnvelopeHeaderSize:len(out)]
	for _, m := range batch.Messages {
		enc = abi.AppendMessage(enc, m.Topic, m.Payload, m.Principal.Kind, m.Principal.ID,
			m.Source, m.Seq, m.Time.UnixNano())
	}
	abi.PutEnvelopeHeader(enc, uint32(len(batch.Messages)), dropped, lagged)
	mem.putU32(lenOut, uint32(len(enc)))
	if len(batch.Messages) > 0 {
		in.SetCaller(batch.Messages[0])
		in.releaseDelivered(batch.Messages)
	}
	in.counters.delivered.Add(uint64(len(batch.Messages)))
	in.counters.dropped.Add(dropped)
	clear(batch.Messages)
	return len(batch.Messages), abi.OK
}

// releaseDelivered gives back the references of msgs, a batch just copied into guest memory,
// so the bus can reuse them — except msgs[0], the new caller (publishes and get-caller read
// it), whose reference is kept until the next batch replaces it.
func (in *Instance) releaseDelivered(msgs []*bus.Message) {
	if prev := in.heldCaller; prev != nil {
		prev.Release()
	}
	in.heldCaller = msgs[0]
	for _, m := range msgs[1:] {
		m.Release()
	}
}

// maxDrainBudget bounds the budget deliver passes to Drain (see drainBudget).
const maxDrainBudget = abi.MaxEnvelopePayloadBytes + abi.MaxTopicBytes*bus.DefaultPerPrincipalMessages*16

// drainBudget is the byte budget (payload + topic) deliver gives Drain for a buffer of bufCap
// bytes. The envelope's own limits — whole records up to bufCap, at most 1 MiB of payload — are
// enforced by deliver's take function; the budget only has to be large enough never to stop a
// batch before them: every record is larger than its payload + topic, so the records that fit
// bufCap never exceed bufCap, and 1 MiB of payload with the topics of 4 096 messages stays under
// maxDrainBudget. At least 1 MiB, so small buffers keep the mailbox's usual round-robin quantum.
func drainBudget(bufCap uint32) int {
	return int(min(max(uint64(bufCap), abi.MaxEnvelopePayloadBytes), maxDrainBudget))
}

// abiWait implements subscription-wait: block until at least one of the listed subscriptions has
// a message, then write the ready handles (u32 each) to the ready buffer.
func (in *Instance) abiWait(ctx context.Context, mem guestMemory, handlesPtr, count uint32, timeoutMs int64, readyPtr, readyCap, readyLenOut uint32) abi.Code {
	in.BeginYield()
	defer in.EndYield()
	n, code := in.wait(ctx, mem, handlesPtr, count, timeoutMs, readyPtr, readyCap, readyLenOut)
	in.auditCall(fnWait, in.effectivePrincipal(), "", "ready", n, code)
	return code
}

func (in *Instance) wait(ctx context.Context, mem guestMemory, handlesPtr, count uint32, timeoutMs int64, readyPtr, readyCap, readyLenOut uint32) (int, abi.Code) {
	// Range checks first (ABI §1); ready_cap is in bytes, like every cap.
	handles, ok := mem.u32s(handlesPtr, count)
	if !ok || !mem.inRange(readyPtr, readyCap) || !mem.inRange(readyLenOut, 4) {
		return 0, abi.InvalidInput
	}
	if count > abi.MaxWaitHandles {
		return 0, abi.TooLarge
	}
	boxes := make([]*bus.Mailbox, len(handles))
	for i, h := range handles {
		sub := in.lookup(h)
		if sub == nil {
			return 0, abi.Closed
		}
		boxes[i] = sub.Mailbox()
	}
	ready, err := bus.WaitAny(ctx, clampTimeout(timeoutMs), boxes)
	if err != nil {
		return 0, abi.Cancelled
	}
	fit := int(readyCap / abi.WaitHandleSize)
	if len(ready) > 0 && fit == 0 {
		// The smallest result that succeeds is one handle.
		mem.putU32(readyLenOut, abi.WaitHandleSize)
		return 0, abi.BufferTooSmall
	}
	n := min(len(ready), fit)
	out := make([]byte, 0, n*abi.WaitHandleSize)
	for _, idx := range ready[:n] {
		h := handles[idx]
		out = append(out, byte(h), byte(h>>8), byte(h>>16), byte(h>>24))
	}
	mem.write(readyPtr, out)
	mem.putU32(readyLenOut, uint32(len(out)))
	return n, abi.OK
}

// Drop implements subscription-drop: unsubscribe, discarding (and counting) what is queued.
func (in *Instance) Drop(ctx context.Context, handle uint32) abi.Code {
	in.mu.Lock()
	sub := in.handles[handle]
	if sub != nil {
		delete(in.handles, handle)
	}
	in.mu.Unlock()
	delete(in.carried, sub)
	code := abi.OK
	pattern := ""
	if sub == nil {
		code = abi.Closed
	} else {
		pattern = sub.Pattern()
		if err := sub.Close(ctx); err != nil {
			code = codeOfBusError(err)
		}
	}
	in.auditCall(fnDrop, in.effectivePrincipal(), pattern, "handle", int(handle), code)
	return code
}

// abiInterceptorBindings implements get-interceptor-bindings. The list is written whole or not
// at all (buffer-too-small with the size needed).
func (in *Instance) abiInterceptorBindings(mem guestMemory, bufPtr, bufCap, lenOut uint32) abi.Code {
	if !mem.inRange(bufPtr, bufCap) || !mem.inRange(lenOut, 4) {
		in.auditCall(fnBindings, in.effectivePrincipal(), "", "count", 0, abi.InvalidInput)
		return abi.InvalidInput
	}
	out := []byte{0, 0, 0, 0}
	for _, b := range in.cfg.Bindings {
		out = abi.AppendBinding(out, b)
	}
	n := uint32(len(in.cfg.Bindings))
	out[0], out[1], out[2], out[3] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
	code := abi.OK
	if uint64(len(out)) > uint64(bufCap) {
		code = abi.BufferTooSmall
	} else {
		mem.write(bufPtr, out)
	}
	mem.putU32(lenOut, uint32(len(out)))
	in.auditCall(fnBindings, in.effectivePrincipal(), "", "count", int(n), code)
	return code
}
