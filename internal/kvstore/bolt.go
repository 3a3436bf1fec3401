// Package kvstore is the runtime's durable kv.Store: one bbolt file per node with group commit
// (docs/kv.md, RATIONALE.md "KV store").
//
// Layout of the file: a top-level bucket "ns" holds one nested bucket per namespace, named by
// the namespace's bytes and holding its keys and values as they are; a top-level bucket
// "usage" maps each namespace name to its keys-plus-values size (u64 little-endian), updated
// in the same transaction as the keys. Nested buckets keep namespaces apart whatever bytes
// their names and keys hold: no key of one namespace can name a key of another.
//
// Writes go through one committer goroutine: it takes every write queued while the previous
// transaction was being committed and applies them, in order, in one bbolt transaction that is
// fsynced before any of them returns. Reads run in their own read-only transactions, in
// parallel with the writer.
package kvstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/astrid-actors/astrid-actors/kv"
)

// ErrInUse is returned (wrapped) by Open when another store — in this process or another —
// has the directory open.
var ErrInUse = errors.New("in use by another process or runtime")

// FileName is the store's file inside the data directory.
const FileName = "kv.db"

// maxBatch and maxBatchBytes bound one group commit: at most 1024 writes and, past the
// first write, 16 MiB of keys and values (a transaction holds its dirty pages in memory).
const (
	maxBatch      = 1024
	maxBatchBytes = 16 << 20
)

var (
	bucketNS    = []byte("ns")
	bucketUsage = []byte("usage")
)

// Bolt is a kv.Store in one bbolt file.
type Bolt struct {
	db   *bolt.DB
	reqs chan *request
	done chan struct{}

	mu     sync.RWMutex // held for reading by every call, for writing by Close
	closed bool
}

var _ kv.Store = (*Bolt)(nil)

// request is one write waiting for the committer. apply runs inside the batch's transaction:
// it returns a kv error (kv.ErrQuota, kv.ErrCASMismatch) after changing nothing, or another
// error, which aborts the transaction.
type request struct {
	apply func(tx *bolt.Tx) error
	size  int // bytes of keys and values it writes (an estimate for clear-prefix: 0)
	err   chan error
}

// Open opens (creating it if needed) the store in dir/kv.db. Only one store may have it open
// at a time; another Open of the same directory fails with ErrInUse after a second.
func Open(dir string) (*Bolt, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("kv store: %w", err)
	}
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("kv store %s: %w (one data directory per node)", path, ErrInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("kv store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketNS, bucketUsage} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("kv store %s: %w", path, err)
	}
	s := &Bolt{db: db, reqs: make(chan *request, maxBatch), done: make(chan struct{})}
	go s.commit()
	return s, nil
}

// Path returns the store's file.
func (s *Bolt) Path() string { return s.db.Path() }

// Close waits for the queued writes to commit and closes the file.
func (s *Bolt) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.reqs)
	s.mu.Unlock()
	<-s.done
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("kv store: close: %w", err)
	}
	return nil
}

// commit is the committer goroutine.
func (s *Bolt) commit() {
	defer close(s.done)
	batch := make([]*request, 0, maxBatch)
	var next *request // a write that did not fit the previous batch
	for {
		if next == nil {
			r, ok := <-s.reqs
			if !ok {
				return
			}
			next = r
		}
		batch = append(batch[:0], next)
		size := next.size
		next = nil
	more:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break more
				}
				if size+r.size > maxBatchBytes {
					next = r
					break more
				}
				batch = append(batch, r)
				size += r.size
			default:
				break more
			}
		}
		s.run(batch)
	}
}

// run commits batch in one transaction. If the transaction fails, each write is retried in a
// transaction of its own, so one failing write cannot fail the others.
func (s *Bolt) run(batch []*request) {
	results := make([]error, len(batch))
	err := s.db.Update(func(tx *bolt.Tx) error {
		for i, r := range batch {
			results[i] = r.apply(tx)
			if results[i] != nil && !isLogical(results[i]) {
				return results[i]
			}
		}
		return nil
	})
	if err == nil {
		for i, r := range batch {
			r.err <- results[i]
		}
		return
	}
	if len(batch) == 1 {
		batch[0].err <- fmt.Errorf("kv store: commit: %w", err)
		return
	}
	for _, r := range batch {
		s.run([]*request{r})
	}
}

// isLogical reports whether err is an outcome of the write (nothing changed) rather than a
// failure of the transaction.
func isLogical(err error) bool {
	return errors.Is(err, kv.ErrQuota) || errors.Is(err, kv.ErrCASMismatch) ||
		errors.Is(err, kv.ErrTooLarge) || errors.Is(err, kv.ErrInvalidKey)
}

// write queues apply for the committer and waits until its transaction is durable. The wait
// does not end early with ctx: a write that was queued commits or fails, and the caller learns
// which.
func (s *Bolt) write(ctx context.Context, size int, apply func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &request{apply: apply, size: size, err: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return kv.ErrClosed
	}
	s.reqs <- r
	s.mu.RUnlock()
	return <-r.err
}

// read runs fn in a read-only transaction.
func (s *Bolt) read(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return kv.ErrClosed
	}
	return s.db.View(fn)
}

// usage returns the namespace's recorded size.
func usage(tx *bolt.Tx, ns string) int64 {
	v := tx.Bucket(bucketUsage).Get([]byte(ns))
	if len(v) != 8 {
		return 0
	}
	return int64(binary.LittleEndian.Uint64(v))
}

func setUsage(tx *bolt.Tx, ns string, n int64) error {
	if n == 0 {
		return tx.Bucket(bucketUsage).Delete([]byte(ns))
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(n))
	return tx.Bucket(bucketUsage).Put([]byte(ns), b[:])
}

func entrySize(key string, value []byte) int64 { return int64(len(key) + len(value)) }

// put stores key=value in ns if the quota allows it. old is the current value (nil: absent).
func put(tx *bolt.Tx, ns kv.Namespace, key string, old []byte, present bool, value []byte) error {
	var oldSize int64
	if present {
		oldSize = entrySize(key, old)
	}
	after, ok := kv.Grows(usage(tx, ns.Name), oldSize, entrySize(key, value), ns.Quota())
	if !ok {
		return kv.ErrQuota
	}
	b, err := tx.Bucket(bucketNS).CreateBucketIfNotExists([]byte(ns.Name))
	if err != nil {
		return err
	}
	if err := b.Put([]byte(key), value); err != nil {
		return err
	}
	return setUsage(tx, ns.Name, after)
}

func checkWrite(key string, value []byte) error {
	if err := kv.ValidKey(key); err != nil {
		return err
	}
	if len(value) > kv.MaxValueBytes {
		return kv.ErrTooLarge
	}
	return nil
}

// Get implements kv.Store.
func (s *Bolt) Get(ctx context.Context, ns kv.Namespace, key string) ([]byte, error) {
	if err := kv.ValidKey(key); err != nil {
		return nil, err
	}
	var out []byte
	err := s.read(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketNS).Bucket([]byte(ns.Name))
		if b == nil {
			return kv.ErrNotFound
		}
		v := b.Get([]byte(key))
		if v == nil {
			return kv.ErrNotFound
		}
		out = bytes.Clone(v)
		return nil
	})
	return out, err
}

// Set implements kv.Store.
func (s *Bolt) Set(ctx context.Context, ns kv.Namespace, key string, value []byte) error {
	if err := checkWrite(key, value); err != nil {
		return err
	}
	value = bytes.Clone(value) // the caller's buffer may change before the commit
	return s.write(ctx, len(key)+len(value), func(tx *bolt.Tx) error {
		old, present := current(tx, ns.Name, key)
		return put(tx, ns, key, old, present, value)
	})
}

// current returns key's value in the transaction.
func current(tx *bolt.Tx, ns, key string) ([]byte, bool) {
	b := tx.Bucket(bucketNS).Bucket([]byte(ns))
	if b == nil {
		return nil, false
	}
	v := b.Get([]byte(key))
	return v, v != nil
}

// Delete implements kv.Store.
func (s *Bolt) Delete(ctx context.Context, ns kv.Namespace, key string) error {
	if err := kv.ValidKey(key); err != nil {
		return err
	}
	return s.write(ctx, len(key), func(tx *bolt.Tx) error {
		old, present := current(tx, ns.Name, key)
		if !present {
			return nil
		}
		if err := tx.Bucket(bucketNS).Bucket([]byte(ns.Name)).Delete([]byte(key)); err != nil {
			return err
		}
		return setUsage(tx, ns.Name, usage(tx, ns.Name)-entrySize(key, old))
	})
}

// CAS implements kv.Store.
func (s *Bolt) CAS(ctx context.Context, ns kv.Namespace, key string, expected []byte, expectPresent bool, value []byte) error {
	if err := checkWrite(key, value); err != nil {
		return err
	}
	value, expected = bytes.Clone(value), bytes.Clone(expected)
	return s.write(ctx, len(key)+len(value), func(tx *bolt.Tx) error {
		old, present := current(tx, ns.Name, key)
		if present != expectPresent || (present && !bytes.Equal(old, expected)) {
			return kv.ErrCASMismatch
		}
		return put(tx, ns, key, old, present, value)
	})
}

// List implements kv.Store.
func (s *Bolt) List(ctx context.Context, ns kv.Namespace, prefix, cursor string, limit int) (kv.Page, error) {
	if err := kv.ValidPrefix(prefix); err != nil {
		return kv.Page{}, err
	}
	if err := kv.ValidPrefix(cursor); err != nil {
		return kv.Page{}, err
	}
	limit = kv.PageLimit(limit)
	var page kv.Page
	err := s.read(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketNS).Bucket([]byte(ns.Name))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		p := []byte(prefix)
		k, _ := c.Seek(p)
		if cursor != "" && cursor >= prefix {
			k, _ = c.Seek([]byte(cursor))
			if k != nil && string(k) == cursor {
				k, _ = c.Next()
			}
		}
		for ; k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
			if len(page.Keys) == limit {
				page.More = true
				break
			}
			page.Keys = append(page.Keys, string(k))
		}
		return nil
	})
	return page, err
}

// ClearPrefix implements kv.Store.
func (s *Bolt) ClearPrefix(ctx context.Context, ns kv.Namespace, prefix string) (uint64, error) {
	if err := kv.ValidPrefix(prefix); err != nil {
		return 0, err
	}
	var n uint64
	err := s.write(ctx, len(prefix), func(tx *bolt.Tx) error {
		n = 0
		b := tx.Bucket(bucketNS).Bucket([]byte(ns.Name))
		if b == nil {
			return nil
		}
		var freed int64
		c := b.Cursor()
		p := []byte(prefix)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Seek(p) {
			freed += int64(len(k) + len(v))
			if err := c.Delete(); err != nil {
				return err
			}
			n++
		}
		return setUsage(tx, ns.Name, usage(tx, ns.Name)-freed)
	})
	return n, err
}

// Usage implements kv.Store.
func (s *Bolt) Usage(ctx context.Context, ns kv.Namespace) (int64, error) {
	var n int64
	err := s.read(ctx, func(tx *bolt.Tx) error {
		n = usage(tx, ns.Name)
		return nil
	})
	return n, err
}
