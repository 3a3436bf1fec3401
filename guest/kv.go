package guest

import (
	"fmt"
	"iter"

	"github.com/astrid-actors/astrid-actors/abi"
)

// ErrCASMismatch: KV.CAS found another value (or presence) than expected; nothing changed.
const ErrCASMismatch = abi.CASMismatch

// Limits of the capsule's key-value state (ABI §7).
const (
	// MaxKVKeyBytes is the longest key: keys are 1 to 256 bytes of UTF-8 without control
	// characters.
	MaxKVKeyBytes = 256
	// MaxKVValueBytes is the largest value (1 MiB).
	MaxKVValueBytes = 1 << 20
	// MaxKVPageKeys is the most keys one page holds (and the page size of limit 0).
	MaxKVPageKeys = 1024
)

// KVStore is the capsule's durable key-value state (module astrid:kv@1.0.0): the namespace of
// the principal whose message the capsule is handling (its owner otherwise), private to the
// capsule. A Set that returned nil survives a crash of the host; a restarted instance, or one
// on another node, sees the same keys. Use it through the package variable KV.
//
// Errors are *Error values: ErrNotFound (Get of a missing key), ErrInvalidInput (a key breaking
// the rules), ErrTooLarge (a value over 1 MiB), ErrQuota (the namespace's [limits] kv_bytes,
// default 64 MiB, is full), ErrCASMismatch, ErrCancelled (the capsule is stopping).
type KVStore struct{}

// KV is the capsule's key-value state.
var KV KVStore

// ABI function names of the kv module, used in errors.
const (
	fnKVGet   = "kv-get"
	fnKVSet   = "kv-set"
	fnKVDel   = "kv-delete"
	fnKVCAS   = "kv-cas"
	fnKVList  = "kv-list-keys-page"
	fnKVClear = "kv-clear-prefix"

	kvGetBuffer  = 256
	kvListBuffer = 16 << 10 // a full page of 1024 keys of up to 11 bytes; longer keys grow it
)

// Get returns key's value, or an error matching ErrNotFound.
func (KVStore) Get(key string) ([]byte, error) {
	var small [kvGetBuffer]byte
	get := func(buf []byte, n *uint32) abi.Code {
		return abi.Code(kvGet(key, bytesPtr(buf), uint32(len(buf)), n))
	}
	_, v, code := fetch(small[:], get, get)
	if code != abi.OK {
		return nil, callErr(fnKVGet, key, code)
	}
	return append([]byte(nil), v...), nil
}

// Set creates or replaces key. It returns once the value is durable.
func (KVStore) Set(key string, value []byte) error {
	return callErr(fnKVSet, key, abi.Code(kvSet(key, bytesPtr(value), uint32(len(value)))))
}

// Delete removes key; a missing key is not an error.
func (KVStore) Delete(key string) error {
	return callErr(fnKVDel, key, abi.Code(kvDelete(key)))
}

// CAS sets key to value only if its current value is expected (expectPresent true) or the key
// is absent (expectPresent false, expected ignored); otherwise it returns an error matching
// ErrCASMismatch and changes nothing. A read-modify-write loop retries on ErrCASMismatch.
func (KVStore) CAS(key string, expected []byte, expectPresent bool, value []byte) error {
	var p uint32
	if expectPresent {
		p = 1
	}
	return callErr(fnKVCAS, key, abi.Code(kvCAS(key, bytesPtr(expected), uint32(len(expected)), p,
		bytesPtr(value), uint32(len(value)))))
}

// KVPage is one page of keys.
type KVPage = abi.KVPage

// ListPage returns up to limit keys (0 or more than MaxKVPageKeys: MaxKVPageKeys) with prefix
// that sort after cursor ("" for the first page), in byte order. When NextCursor is not
// empty, more keys remain: pass it as the next call's cursor. The host may return fewer keys
// than limit when they do not fit the SDK's buffer, which grows as needed.
func (KVStore) ListPage(prefix, cursor string, limit int) (KVPage, error) {
	if limit < 0 || limit > MaxKVPageKeys {
		limit = 0
	}
	buf := make([]byte, kvListBuffer)
	list := func(buf []byte, n *uint32) abi.Code {
		return abi.Code(kvListPage(prefix, cursor, uint32(limit), bytesPtr(buf), uint32(len(buf)), n))
	}
	_, data, code := fetch(buf, list, list)
	if code != abi.OK {
		return KVPage{}, callErr(fnKVList, prefix, code)
	}
	p, err := abi.DecodeKVPage(data)
	if err != nil {
		return KVPage{}, fmt.Errorf("astrid %s %s: %w", fnKVList, prefix, err)
	}
	return p, nil
}

// Keys iterates over every key with prefix in byte order, one page at a time. Keys set or
// deleted during the walk may or may not be seen; none is seen twice. The walk stops at the
// first error, which it yields with an empty key.
func (kv KVStore) Keys(prefix string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		cursor := ""
		for {
			p, err := kv.ListPage(prefix, cursor, 0)
			if err != nil {
				yield("", err)
				return
			}
			for _, k := range p.Keys {
				if !yield(k, nil) {
					return
				}
			}
			if p.NextCursor == "" {
				return
			}
			cursor = p.NextCursor
		}
	}
}

// ClearPrefix deletes every key with prefix ("" deletes every key) and returns how many.
func (KVStore) ClearPrefix(prefix string) (uint64, error) {
	var n uint64
	if err := callErr(fnKVClear, prefix, abi.Code(kvClearPrefix(prefix, &n))); err != nil {
		return 0, err
	}
	return n, nil
}
