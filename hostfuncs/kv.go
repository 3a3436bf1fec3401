package hostfuncs

import (
	"context"
	"encoding/binary"
	"errors"

	"github.com/tetratelabs/wazero/api"
	"go.uber.org/zap"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/kv"
)

// The module astrid:kv@1.0.0 (ABI §7, docs/kv.md): each capsule's durable state, in the
// namespace of the effective principal and the capsule id. Every call range-checks all of its
// pointer/length pairs first (invalid-input), then the key rules, then the sizes.
func init() {
	functions = append(functions, kvFunctions...)
}

var kvFunctions = []Function{
	{abi.ModuleKV, "kv-get", []api.ValueType{i32, i32, i32, i32, i32}, []api.ValueType{i32},
		func(ctx context.Context, in *Instance, m guestMemory, s []uint64) uint64 {
			return code(in.abiKVGet(ctx, m, u32(s[0]), u32(s[1]), u32(s[2]), u32(s[3]), u32(s[4])))
		}},
	{abi.ModuleKV, "kv-set", []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32},
		func(ctx context.Context, in *Instance, m guestMemory, s []uint64) uint64 {
			return code(in.abiKVSet(ctx, m, u32(s[0]), u32(s[1]), u32(s[2]), u32(s[3])))
		}},
	{abi.ModuleKV, "kv-delete", []api.ValueType{i32, i32}, []api.ValueType{i32},
		func(ctx context.Context, in *Instance, m guestMemory, s []uint64) uint64 {
			return code(in.abiKVDelete(ctx, m, u32(s[0]), u32(s[1])))
		}},
	{abi.ModuleKV, "kv-cas", []api.ValueType{i32, i32, i32, i32, i32, i32, i32}, []api.ValueType{i32},
		func(ctx context.Context, in *Instance, m guestMemory, s []uint64) uint64 {
			return code(in.abiKVCAS(ctx, m, u32(s[0]), u32(s[1]), u32(s[2]), u32(s[3]), u32(s[4]), u32(s[5]), u32(s[6])))
		}},
	{abi.ModuleKV, "kv-list-keys-page", []api.ValueType{i32, i32, i32, i32, i32, i32, i32, i32}, []api.ValueType{i32},
		func(ctx context.Context, in *Instance, m guestMemory, s []uint64) uint64 {
			return code(in.abiKVListPage(ctx, m, u32(s[0]), u32(s[1]), u32(s[2]), u32(s[3]), u32(s[4]), u32(s[5]), u32(s[6]), u32(s[7])))
		}},
	{abi.ModuleKV, "kv-clear-prefix", []api.ValueType{i32, i32, i32}, []api.ValueType{i32},
		func(ctx context.Context, in *Instance, m guestMemory, s []uint64) uint64 {
			return code(in.abiKVClearPrefix(ctx, m, u32(s[0]), u32(s[1]), u32(s[2])))
		}},
}

// kvNamespace is the namespace of the call: the effective principal's, for this capsule.
func (in *Instance) kvNamespace() kv.Namespace {
	return kv.Namespace{Name: kv.NamespaceName(in.effectivePrincipal().ID, in.cfg.CapsuleID), QuotaBytes: in.cfg.KVQuotaBytes}
}

// kvCode maps a store error to its ABI code; host-side failures are logged.
func (in *Instance) kvCode(fn string, err error) abi.Code {
	switch {
	case err == nil:
		return abi.OK
	case errors.Is(err, kv.ErrNotFound):
		return abi.NotFound
	case errors.Is(err, kv.ErrInvalidKey):
		return abi.InvalidInput
	case errors.Is(err, kv.ErrTooLarge):
		return abi.TooLarge
	case errors.Is(err, kv.ErrQuota):
		return abi.Quota
	case errors.Is(err, kv.ErrCASMismatch):
		return abi.CASMismatch
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return abi.Cancelled
	case errors.Is(err, kv.ErrClosed):
		return abi.Closed
	}
	in.log.Error("kv store", zap.String("fn", fn), zap.Error(err))
	return abi.Unknown
}

// kvStore returns the store, or nil after logging that the runtime has none.
func (in *Instance) kvStore(fn string) kv.Store {
	if in.cfg.KV == nil {
		in.log.Error("kv store", zap.String("fn", fn), zap.String("error", "the runtime has no kv store"))
	}
	return in.cfg.KV
}

// kvKey reads and checks a key: (key, invalid-input) unless it is in range and valid.
func kvKey(mem guestMemory, ptr, n uint32) (string, abi.Code) {
	k, ok := mem.str(ptr, n)
	if !ok || kv.ValidKey(k) != nil {
		return "", abi.InvalidInput
	}
	return k, abi.OK
}

// abiKVGet implements kv-get: the value goes to (buf, cap) and its length to len_out; a value
// larger than cap gets buffer-too-small with its length written; a missing key gets not-found
// with 0 written.
func (in *Instance) abiKVGet(ctx context.Context, mem guestMemory, keyPtr, keyLen, bufPtr, bufCap, lenOut uint32) abi.Code {
	if !mem.inRange(keyPtr, keyLen) || !mem.inRange(bufPtr, bufCap) || !mem.inRange(lenOut, 4) {
		return abi.InvalidInput
	}
	key, c := kvKey(mem, keyPtr, keyLen)
	if c != abi.OK {
		return c
	}
	st := in.kvStore("kv-get")
	if st == nil {
		return abi.Unknown
	}
	v, err := st.Get(ctx, in.kvNamespace(), key)
	if err != nil {
		mem.putU32(lenOut, 0)
		return in.kvCode("kv-get", err)
	}
	return writeResult(mem, v, bufPtr, bufCap, lenOut)
}

// abiKVSet implements kv-set. It returns once the write is durable.
func (in *Instance) abiKVSet(ctx context.Context, mem guestMemory, keyPtr, keyLen, valPtr, valLen uint32) abi.Code {
	if !mem.inRange(keyPtr, keyLen) || !mem.inRange(valPtr, valLen) {
		return abi.InvalidInput
	}
	key, c := kvKey(mem, keyPtr, keyLen)
	if c != abi.OK {
		return c
	}
	if valLen > kv.MaxValueBytes {
		return abi.TooLarge
	}
	st := in.kvStore("kv-set")
	if st == nil {
		return abi.Unknown
	}
	val, _ := mem.view(valPtr, valLen) // the store copies it before the guest runs again
	return in.kvCode("kv-set", st.Set(ctx, in.kvNamespace(), key, val))
}

// abiKVDelete implements kv-delete; deleting a missing key is ok.
func (in *Instance) abiKVDelete(ctx context.Context, mem guestMemory, keyPtr, keyLen uint32) abi.Code {
	if !mem.inRange(keyPtr, keyLen) {
		return abi.InvalidInput
	}
	key, c := kvKey(mem, keyPtr, keyLen)
	if c != abi.OK {
		return c
	}
	st := in.kvStore("kv-delete")
	if st == nil {
		return abi.Unknown
	}
	return in.kvCode("kv-delete", st.Delete(ctx, in.kvNamespace(), key))
}

// abiKVCAS implements kv-cas: expect_present must be 0 or 1 (else invalid-input).
func (in *Instance) abiKVCAS(ctx context.Context, mem guestMemory, keyPtr, keyLen, expPtr, expLen, expectPresent, newPtr, newLen uint32) abi.Code {
	if !mem.inRange(keyPtr, keyLen) || !mem.inRange(expPtr, expLen) || !mem.inRange(newPtr, newLen) {
		return abi.InvalidInput
	}
	key, c := kvKey(mem, keyPtr, keyLen)
	if c != abi.OK {
		return c
	}
	if expectPresent > 1 {
		return abi.InvalidInput
	}
	if newLen > kv.MaxValueBytes {
		return abi.TooLarge
	}
	st := in.kvStore("kv-cas")
	if st == nil {
		return abi.Unknown
	}
	expected, _ := mem.view(expPtr, expLen)
	val, _ := mem.view(newPtr, newLen)
	return in.kvCode("kv-cas", st.CAS(ctx, in.kvNamespace(), key, expected, expectPresent == 1, val))
}

// abiKVListPage implements kv-list-keys-page. The page holds the keys that fit in cap (whole
// keys only); when fewer than the store returned fit, or more remain, next_cursor is the last
// key written. If not even the smallest page fits, it writes the size of that page and
// returns buffer-too-small; nothing is consumed either way (the cursor is the guest's).
func (in *Instance) abiKVListPage(ctx context.Context, mem guestMemory, prefixPtr, prefixLen, cursorPtr, cursorLen, limit, bufPtr, bufCap, lenOut uint32) abi.Code {
	if !mem.inRange(prefixPtr, prefixLen) || !mem.inRange(cursorPtr, cursorLen) ||
		!mem.inRange(bufPtr, bufCap) || !mem.inRange(lenOut, 4) {
		return abi.InvalidInput
	}
	prefix, _ := mem.str(prefixPtr, prefixLen)
	cursor, _ := mem.str(cursorPtr, cursorLen)
	if kv.ValidPrefix(prefix) != nil || kv.ValidPrefix(cursor) != nil {
		return abi.InvalidInput
	}
	st := in.kvStore("kv-list-keys-page")
	if st == nil {
		return abi.Unknown
	}
	n := kv.MaxPageKeys
	if limit != 0 && limit < kv.MaxPageKeys {
		n = int(limit)
	}
	page, err := st.List(ctx, in.kvNamespace(), prefix, cursor, n)
	if err != nil {
		return in.kvCode("kv-list-keys-page", err)
	}
	buf, need := encodePage(page, int(bufCap))
	if buf == nil {
		mem.putU32(lenOut, uint32(need))
		return abi.BufferTooSmall
	}
	mem.write(bufPtr, buf)
	mem.putU32(lenOut, uint32(len(buf)))
	return abi.OK
}

// encodePage encodes the longest prefix of page's keys that fits in capacity bytes:
// u32 key_count | u32 next_cursor_len | next_cursor | (u32 key_len | key) × key_count.
// When not even the smallest page (no keys if page is empty, else its first key) fits it
// returns nil and that page's size.
func encodePage(page kv.Page, capacity int) ([]byte, int) {
	base := make([]int, len(page.Keys)+1) // base[i]: header and the first i keys, no cursor
	base[0] = 8
	for i, k := range page.Keys {
		base[i+1] = base[i] + 4 + len(k)
	}
	size := func(keys int) int { // the page of the first keys, with its cursor when more remain
		if keys > 0 && (keys < len(page.Keys) || page.More) {
			return base[keys] + len(page.Keys[keys-1])
		}
		return base[keys]
	}
	// The size is not monotonic in the number of keys (a shorter last key makes a shorter
	// cursor), so the largest page that fits is searched from the top.
	fit := len(page.Keys)
	for fit > 0 && size(fit) > capacity {
		fit--
	}
	if fit == 0 && (len(page.Keys) > 0 || base[0] > capacity) {
		return nil, size(min(1, len(page.Keys)))
	}
	more := fit < len(page.Keys) || page.More
	out := make([]byte, 0, size(fit))
	out = binary.LittleEndian.AppendUint32(out, uint32(fit))
	cursor := ""
	if more && fit > 0 {
		cursor = page.Keys[fit-1]
	}
	out = binary.LittleEndian.AppendUint32(out, uint32(len(cursor)))
	out = append(out, cursor...)
	for _, k := range page.Keys[:fit] {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(k)))
		out = append(out, k...)
	}
	return out, len(out)
}

// abiKVClearPrefix implements kv-clear-prefix: the number of deleted keys goes to the u64 at
// count_out.
func (in *Instance) abiKVClearPrefix(ctx context.Context, mem guestMemory, prefixPtr, prefixLen, countOut uint32) abi.Code {
	if !mem.inRange(prefixPtr, prefixLen) || !mem.inRange(countOut, 8) {
		return abi.InvalidInput
	}
	prefix, _ := mem.str(prefixPtr, prefixLen)
	if kv.ValidPrefix(prefix) != nil {
		return abi.InvalidInput
	}
	st := in.kvStore("kv-clear-prefix")
	if st == nil {
		return abi.Unknown
	}
	n, err := st.ClearPrefix(ctx, in.kvNamespace(), prefix)
	if err != nil {
		return in.kvCode("kv-clear-prefix", err)
	}
	mem.write(countOut, binary.LittleEndian.AppendUint64(nil, n))
	return abi.OK
}
