// Package kv is the store interface behind the host module astrid:kv@1.0.0 (docs/kv.md): the
// durable key-value state of capsules, one namespace per effective principal and capsule.
//
// The package holds the contract every store implementation keeps — key rules, size limits,
// quota accounting, byte-ordered paging, compare-and-set — and the Store interface the host
// functions call. The runtime's store is the crash-safe embedded one of internal/kvstore
// (bbolt, group commit); a store replicated through a JetStream stream, for
// clusters (internal/kvjet), implements the same interface; kv/kvtest is the conformance
// suite both pass. Embedders may pass their own Store in
// actors.Options.
package kv

import (
	"context"
	"errors"
	"unicode/utf8"
)

// Limits of astrid:kv@1.0.0 (ABI §7).
const (
	// MaxKeyBytes is the longest key, in bytes (keys are 1 to 256 bytes of UTF-8).
	MaxKeyBytes = 256
	// MaxValueBytes is the largest value, in bytes (1 MiB).
	MaxValueBytes = 1 << 20
	// DefaultQuotaBytes is the default size of a namespace, keys plus values: 64 MiB. The
	// manifest's [limits] kv_bytes overrides it per capsule.
	DefaultQuotaBytes = 64 << 20
	// MaxPageKeys is the most keys one list page holds; a limit of 0 means MaxPageKeys, and a
	// larger limit is clamped to it.
	MaxPageKeys = 1024
)

// Errors of the store. Implementations return them (possibly wrapped); the host functions
// map them to ABI codes.
var (
	// ErrNotFound: no such key (kv-get).
	ErrNotFound = errors.New("kv: no such key")
	// ErrInvalidKey: a key, prefix or cursor breaks the key rules (ValidKey).
	ErrInvalidKey = errors.New("kv: invalid key")
	// ErrTooLarge: a value over MaxValueBytes.
	ErrTooLarge = errors.New("kv: value too large")
	// ErrQuota: the write would take the namespace over its quota.
	ErrQuota = errors.New("kv: namespace quota exceeded")
	// ErrCASMismatch: compare-and-set found another value (or presence) than expected.
	ErrCASMismatch = errors.New("kv: compare-and-set mismatch")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("kv: store closed")
)

// Namespace names one capsule's state for one principal, with its quota.
type Namespace struct {
	// Name is the namespace, NamespaceName(principal, capsule). Stores treat it as opaque
	// bytes and keep namespaces apart whatever their names and keys contain.
	Name string
	// QuotaBytes caps the namespace's keys plus values; 0 means DefaultQuotaBytes.
	QuotaBytes int64
}

// Quota returns the namespace's effective quota in bytes.
func (n Namespace) Quota() int64 {
	if n.QuotaBytes <= 0 {
		return DefaultQuotaBytes
	}
	return n.QuotaBytes
}

// NamespaceName is the namespace of capsule's state for principal, as Astrid builds it:
// "<principal>:capsule:<capsule>".
func NamespaceName(principal, capsule string) string {
	return principal + ":capsule:" + capsule
}

// Page is one page of a listing.
type Page struct {
	// Keys are in byte order.
	Keys []string
	// More reports that keys with the prefix remain after the last one of Keys; the last key
	// is then the cursor of the next page.
	More bool
}

// Store is a durable key-value store of namespaces. Every method is safe for concurrent use.
// A write (Set, Delete, CAS, ClearPrefix) that returned nil is durable: it survives a crash of
// the process (and, for a replicated store, of the node). Operations on one namespace are
// linearizable.
type Store interface {
	// Get returns key's value, or ErrNotFound.
	Get(ctx context.Context, ns Namespace, key string) ([]byte, error)
	// Set creates or replaces key. ErrTooLarge for a value over MaxValueBytes, ErrQuota when
	// the namespace would grow over its quota.
	Set(ctx context.Context, ns Namespace, key string, value []byte) error
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, ns Namespace, key string) error
	// CAS sets key to value only if its current value equals expected (expectPresent) or the
	// key is absent (!expectPresent); otherwise it returns ErrCASMismatch and changes nothing.
	CAS(ctx context.Context, ns Namespace, key string, expected []byte, expectPresent bool, value []byte) error
	// List returns up to limit keys with prefix that sort after cursor (empty: from the
	// start), in byte order. limit 0 means MaxPageKeys; larger limits are clamped to it.
	List(ctx context.Context, ns Namespace, prefix, cursor string, limit int) (Page, error)
	// ClearPrefix deletes every key with prefix (the empty prefix: every key) and returns how
	// many it deleted.
	ClearPrefix(ctx context.Context, ns Namespace, prefix string) (uint64, error)
	// Usage returns the namespace's keys plus values, in bytes.
	Usage(ctx context.Context, ns Namespace) (int64, error)
	// Close flushes and releases the store; later calls return ErrClosed.
	Close() error
}

// ValidKey reports whether key may be stored: 1 to MaxKeyBytes bytes of valid UTF-8 with no
// NUL or other control character (C0, DEL, C1). It returns nil or an error wrapping
// ErrInvalidKey.
func ValidKey(key string) error {
	if len(key) == 0 {
		return errInvalid("empty key")
	}
	return ValidPrefix(key)
}

// ValidPrefix is ValidKey for prefixes and cursors, which may be empty.
func ValidPrefix(p string) error {
	if len(p) > MaxKeyBytes {
		return errInvalid("longer than 256 bytes")
	}
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRuneInString(p[i:])
		if r == utf8.RuneError && size <= 1 {
			return errInvalid("not valid UTF-8")
		}
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return errInvalid("contains a control character")
		}
		i += size
	}
	return nil
}

type invalidKeyError string

func (e invalidKeyError) Error() string { return "kv: invalid key: " + string(e) }
func (e invalidKeyError) Unwrap() error { return ErrInvalidKey }

func errInvalid(why string) error { return invalidKeyError(why) }

// PageLimit returns the number of keys a list call with limit returns at most.
func PageLimit(limit int) int {
	if limit <= 0 || limit > MaxPageKeys {
		return MaxPageKeys
	}
	return limit
}

// Grows reports the usage after replacing a key's entry of oldSize bytes (0 when absent) with
// one of newSize bytes, and whether that write is allowed under quota: a write is refused only
// if it grows the namespace past its quota, so a namespace over a lowered quota can shrink.
func Grows(usage, oldSize, newSize, quota int64) (after int64, ok bool) {
	after = usage - oldSize + newSize
	return after, after <= quota || newSize <= oldSize
}
