package hostfuncs

import (
	"encoding/binary"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/bus"
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

// publishBatch runs the batch; recordCode reports that code is a record's publish result,
// already audited.
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
	off := 0
	for i := range count {
		tl := binary.LittleEndian.Uint32(records[off:])
		pl := binary.LittleEndian.Uint32(records[off+4:])
		topicPtr := recPtr + uint32(off) + abi.BatchRecordHeaderSize
		topic, c := in.publish(mem, topicPtr, tl, topicPtr+tl, pl, p)
		in.auditCall(fnPublishBatch, p, topic, "bytes", int(pl), c)
		if c != abi.OK {
			mem.putU32(acceptedOut, uint32(i))
			return c, true
		}
		off += abi.BatchRecordHeaderSize + int(tl) + int(pl)
	}
	mem.putU32(acceptedOut, uint32(count))
	if end < len(records) {
		// A record whose header or lengths run past records_len.
		return abi.InvalidInput, false
	}
	return abi.OK, false
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
