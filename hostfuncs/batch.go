package hostfuncs

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/topics"
)

// fnPublishBatch is the audit name of publish-batch.
const fnPublishBatch = "astrid:ipc/publish-batch"

// abiPublishBatch implements ipc@1.1.0 publish-batch (ABI §6.1): the records
// (u32 topic_len | u32 payload_len | topic | payload, packed) are published in order, each with
// exactly the checks and effects of publish, as the same principal. The call stops at the
// first record that fails or is malformed; the number published goes to the u32 at
// acceptedOut. Checks of the call itself, first: the ranges of the records and of acceptedOut
// (invalid-input, nothing written), records_len over abi.MaxBatchBytes or more than
// abi.MaxBatchRecords records (too-large, nothing published).
//
// Each record is audited like a publish, under the name astrid:ipc/publish-batch; a refusal of
// the call itself (or of a malformed record) is audited once with an empty topic.
func (in *Instance) abiPublishBatch(mem guestMemory, recPtr, recLen, acceptedOut uint32) abi.Code {
	p := in.effectivePrincipal()
	code, recordCode := in.publishBatch(mem, recPtr, recLen, acceptedOut, p)
	if !recordCode {
		in.auditCall(fnPublishBatch, p, "", "bytes", int(recLen), code)
	}
	return code
}

// batchRecs are the reusable record lists of publishBatch (views of guest memory while a call
// runs, cleared before they go back).
var batchRecs = sync.Pool{New: func() any { return new([]bus.Record) }}

// publishBatch runs the batch; recordCode reports that code is a record's publish result,
// already audited.
//
// The result is that of publishing the records one by one with publish (docs/abi.md §5.1 and
// §6.1), but what one call can pay once is paid once: one clock reading for the rate window and
// the messages' time, one critical section of the rate limiter for the records' charges, and
// one bus.Publisher.PublishBatch (one match per run of records on one topic, one lock and one
// wake-up per mailbox per run). The per-record checks keep publish's order: ranges and the
// topic length, then the rate limit, then the topic's validity and ACL and the payload size,
// then the bus's checks; a record refused after its charge gives the charge back, so only
// published records stay charged.
func (in *Instance) publishBatch(mem guestMemory, recPtr, recLen, acceptedOut uint32, p bus.Principal) (code abi.Code, recordCode bool) {
	records, ok := mem.view(recPtr, recLen)
	if !ok || !mem.inRange(acceptedOut, 4) {
		return abi.InvalidInput, false
	}
	mem.putU32(acceptedOut, 0)
	if recLen > abi.MaxBatchBytes {
		return abi.TooLarge, false
	}
	// Count the well-formed records up to the first malformed one, so that a batch of too many
	// records publishes nothing.
	count, end := 0, 0
	for {
		next, ok := nextRecord(records, end)
		if !ok {
			break
		}
		if count++; count > abi.MaxBatchRecords {
			return abi.TooLarge, false
		}
		end = next
	}
	if count == 0 {
		if end < len(records) {
			return abi.InvalidInput, false
		}
		return abi.OK, false
	}
	rp := batchRecs.Get().(*[]bus.Record)
	recs := (*rp)[:0]
	defer func() {
		clear(recs) // no views of guest memory stay behind
		*rp = recs[:0]
		batchRecs.Put(rp)
	}()

	// Pass 1: the host's checks of each record that do not depend on the rate limit, up to the
	// first refused record, refused (fail is its code; charged says publish would have
	// charged it before refusing it, so the rate limit decides first).
	refused, fail, charged := count, abi.OK, false
	failTopic, failLen := "", 0
	off := 0
	for i := range count {
		tl := int(binary.LittleEndian.Uint32(records[off:]))
		pl := int(binary.LittleEndian.Uint32(records[off+4:]))
		t := off + abi.BatchRecordHeaderSize
		view, payload := records[t:t+tl], records[t+tl:t+tl+pl]
		off = t + tl + pl
		if tl > abi.MaxTopicBytes {
			refused, fail, failLen = i, abi.InvalidInput, pl // refused before the rate limit
			break
		}
		// As in publish: the last topic that passed validation and the ACL is not checked
		// again, and its string is reused.
		topic := in.lastTopic
		if string(view) != topic || topic == "" {
			topic = string(view)
			code := abi.OK
			if topics.Validate(topic, topics.GuestLimits) != nil {
				code = abi.InvalidInput
			} else if !anyMatch(in.cfg.Grants.Publish, topic, topics.MatchRoute) {
				code = abi.CapabilityDenied
			}
			if code != abi.OK {
				refused, fail, charged, failTopic, failLen = i, code, true, topic, pl
				break
			}
			in.lastTopic = topic
		}
		if pl > abi.MaxPayloadBytes {
			refused, fail, charged, failTopic, failLen = i, abi.InvalidInput, true, topic, pl
			break
		}
		recs = append(recs, bus.Record{Topic: topic, Payload: payload})
	}

	// Pass 2: the rate limit, one critical section for the records that passed and, if
	// publish would have charged it, the refused one (tested, not kept: publish refunds it).
	now := in.cfg.Bus.Now() // one clock reading: the rate window's and the messages' time
	probe := -1
	if charged {
		probe = failLen
	}
	admitted, probeFits, bc := in.limiter.admitBatch(p, recs, probe, in.shared.rateNow(now))
	switch {
	case admitted < len(recs):
		refused, fail, failTopic, failLen = admitted, abi.RateLimited, recs[admitted].Topic, len(recs[admitted].Payload)
		recs = recs[:admitted]
	case charged && !probeFits:
		fail = abi.RateLimited
	}

	// Pass 3: the bus's checks and the delivery; records it refuses give their charge back.
	published, err := in.pub.PublishBatch(recs, in.cfg.InstanceID, p, now)
	if published < len(recs) {
		in.limiter.refundBatch(bc, recs[published:])
		refused, fail, failTopic, failLen = published, codeOfBusError(err), recs[published].Topic, len(recs[published].Payload)
	}
	if published > 0 {
		in.counters.published.Add(uint64(published))
	}
	for i := range published {
		in.auditCall(fnPublishBatch, p, recs[i].Topic, "bytes", len(recs[i].Payload), abi.OK)
	}
	mem.putU32(acceptedOut, uint32(published))
	if refused < count {
		in.auditCall(fnPublishBatch, p, failTopic, "bytes", failLen, fail)
		return fail, true
	}
	if end < len(records) {
		// A record whose header or lengths run past records_len.
		return abi.InvalidInput, false
	}
	return abi.OK, false
}

// batchCharge is what admitBatch charged to one window; refundBatch gives part of it back.
type batchCharge struct {
	w     *window
	epoch uint64
}

// admitBatch charges the records of recs, in order, to p's window at now while they fit, in
// one critical section, and returns how many it charged. When all were and probe >= 0, it
// also reports whether one more message of probe bytes would fit, without charging it.
// As with admit, concurrent instances of the capsule never exceed the budget together.
func (r *rateLimiter) admitBatch(p bus.Principal, recs []bus.Record, probe int, now time.Time) (admitted int, probeFits bool, c batchCharge) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.current(p, now)
	for _, rec := range recs {
		n := len(rec.Payload)
		if w.messages >= r.messages || n > r.bytes-w.bytes {
			return admitted, false, batchCharge{w: w, epoch: w.epoch}
		}
		w.bytes += n
		w.messages++
		admitted++
	}
	probeFits = probe >= 0 && w.messages < r.messages && probe <= r.bytes-w.bytes
	return admitted, probeFits, batchCharge{w: w, epoch: w.epoch}
}

// refundBatch takes back the charges admitBatch made for recs, unless the window has expired
// since.
func (r *rateLimiter) refundBatch(c batchCharge, recs []bus.Record) {
	if len(recs) == 0 {
		return
	}
	bytes := 0
	for _, rec := range recs {
		bytes += len(rec.Payload)
	}
	r.mu.Lock()
	if c.w.epoch == c.epoch {
		c.w.bytes -= bytes
		c.w.messages -= len(recs)
	}
	r.mu.Unlock()
}

// nextRecord returns the offset after the record at off, or false if no whole record starts
// there (the end of records, or a header or lengths running past it).
func nextRecord(records []byte, off int) (int, bool) {
	if len(records)-off < abi.BatchRecordHeaderSize {
		return 0, false
	}
	tl := uint64(binary.LittleEndian.Uint32(records[off:]))
	pl := uint64(binary.LittleEndian.Uint32(records[off+4:]))
	next := uint64(off) + abi.BatchRecordHeaderSize + tl + pl
	if next > uint64(len(records)) {
		return 0, false
	}
	return int(next), true
}
