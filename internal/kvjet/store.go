// Package kvjet is a kv.Store replicated through a JetStream stream, for clusters (docs/kv.md
// "Cluster"): every node of the cluster reads and writes the same namespaces, and a write
// that returned is stored by a quorum of the stream's replicas.
//
// Layout: one stream (default "KVA_astrid") with MaxMsgsPerSubject 1, whose subjects are
//
//	$AKV.<bucket>.n<hex(namespace)>.k<hex(key)>   the key's value (or a tombstone)
//	$AKV.<bucket>.u<hex(namespace)>               the namespace's usage, decimal bytes
//
// Lowercase hex keeps the mapping injective (no dot can appear inside a token, every byte is
// two digits) and order-preserving (hex strings sort as the bytes they encode), so namespaces
// are disjoint by construction and a sorted listing of a namespace's subjects is in key byte
// order.
//
// Every write is one JetStream atomic batch of two messages — the namespace's new usage and
// the key's new value or tombstone — each carrying the subject sequence it was computed from
// (Nats-Expected-Last-Subject-Sequence). The batch commits entirely or not at all, so the
// usage always equals the sum of the namespace's keys and values, whatever the number of
// concurrent writers on whatever nodes; a writer that lost a race re-reads and retries.
// Reads go to the stream leader (no direct get), so a read sees every write that returned.
package kvjet

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/astrid-actors/astrid-actors/kv"
)

// Defaults of Config.
const (
	// DefaultBucket names the stream KVA_astrid and its subjects $AKV.astrid.>.
	DefaultBucket = "astrid"
	// DefaultTimeout bounds one request to JetStream (a write's commit, a read).
	DefaultTimeout = 5 * time.Second
	// MaxNamespaceBytes is the longest namespace name the store accepts: a subject holds
	// the namespace and the key in hex and must fit NATS's 4 KiB control line.
	MaxNamespaceBytes = 1024
	// TombstoneTTL is how long a deleted key's tombstone stays in the stream: tombstones
	// make a delete one atomic write with the usage, then expire so deleted keys cost no
	// space.
	TombstoneTTL = time.Minute
)

// Headers of the store's messages.
const (
	hdrOp     = "Astrid-Op"
	opDel     = "del"
	hdrBatch  = "Nats-Batch-Id"
	hdrBSeq   = "Nats-Batch-Sequence"
	hdrCommit = "Nats-Batch-Commit"
	hdrExpSeq = "Nats-Expected-Last-Subject-Sequence"
	hdrMsgID  = "Nats-Msg-Id"
	hdrTTL    = "Nats-TTL"
	hdrSize   = "Nats-Msg-Size"
)

// JetStream error codes the store reacts to.
const (
	codeWrongLastSeq      = 10071
	codeWrongLastSeqConst = 10164
	codeBatchDuplicate    = 10201
	codeBatchIncomplete   = 10176
	codeDupInProcess      = 10158
)

// Config configures a Store.
type Config struct {
	// Bucket names the stream (KVA_<bucket>) and its subjects; letters, digits, '-' and
	// '_'. Empty means DefaultBucket.
	Bucket string
	// Replicas is the stream's replica count; the cluster passes min(3, servers). A write
	// returns once a quorum of them stored it. 0 means 1. An existing stream with more
	// replicas keeps them (Open scales up, never down).
	Replicas int
	// MaxBytes caps the stream on each server; 0 means no cap beyond the server's
	// JetStream limits.
	MaxBytes int64
	// Timeout bounds each request; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Store is a kv.Store over a JetStream stream. It does not own the connection.
type Store struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	stream  jetstream.Stream
	name    string // stream name
	prefix  string // "$AKV.<bucket>."
	timeout time.Duration

	mu     sync.RWMutex // held for reading by calls, for writing by Close
	closed bool

	cacheMu sync.Mutex
	cache   map[string]*listing // by namespace token; see listKeys
}

var _ kv.Store = (*Store)(nil)

// listing is a namespace's live keys (hex tokens, sorted) as of the stream's last sequence.
type listing struct {
	lastSeq uint64
	keys    []string // "k<hex>" tokens, sorted
}

// maxCached bounds the listings kept (one per namespace being paged).
const maxCached = 64

// Open creates the stream (or updates it to cfg) and returns the store. It retries while
// JetStream is not ready (no meta leader yet, servers still joining) until ctx ends.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		cfg.Bucket = DefaultBucket
	}
	for _, r := range cfg.Bucket {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return nil, fmt.Errorf("kvjet: bucket %q: only letters, digits, '-' and '_'", cfg.Bucket)
		}
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	maxBytes := cfg.MaxBytes
	if maxBytes <= 0 {
		maxBytes = -1
	}
	s := &Store{
		nc: js.Conn(), js: js, name: "KVA_" + cfg.Bucket, prefix: "$AKV." + cfg.Bucket + ".",
		timeout: cfg.Timeout, cache: map[string]*listing{},
	}
	scfg := jetstream.StreamConfig{
		Name:               s.name,
		Description:        "astrid-actors kv namespaces (internal/kvjet)",
		Subjects:           []string{s.prefix + ">"},
		MaxMsgsPerSubject:  1,
		MaxBytes:           maxBytes,
		Storage:            jetstream.FileStorage,
		Replicas:           cfg.Replicas,
		Discard:            jetstream.DiscardNew,
		AllowAtomicPublish: true,
		AllowMsgTTL:        true,
		Duplicates:         2 * time.Minute,
	}
	var lastErr error
	for {
		rctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		// Never scale an existing stream down: a node that opens it while others are still
		// joining must not take replicas away.
		if st, err := js.Stream(rctx, s.name); err == nil && st.CachedInfo().Config.Replicas > scfg.Replicas {
			scfg.Replicas = st.CachedInfo().Config.Replicas
		}
		st, err := js.CreateOrUpdateStream(rctx, scfg)
		cancel()
		if err == nil {
			s.stream = st
			return s, nil
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("kvjet: create stream %s (R%d): %w (last error: %v)", s.name, cfg.Replicas, ctx.Err(), lastErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Close makes later calls return kv.ErrClosed. Writes in progress finish; the connection
// stays open (it is the caller's).
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

// enter returns kv.ErrClosed after Close; otherwise the caller must call s.mu.RUnlock.
func (s *Store) enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return kv.ErrClosed
	}
	return nil
}

func nsToken(ns string) string   { return "n" + hex.EncodeToString([]byte(ns)) }
func keyToken(key string) string { return "k" + hex.EncodeToString([]byte(key)) }

func (s *Store) keySubject(ns, key string) string {
	return s.prefix + nsToken(ns) + "." + keyToken(key)
}
func (s *Store) usageSubject(ns string) string {
	return s.prefix + "u" + hex.EncodeToString([]byte(ns))
}

func checkNamespace(ns kv.Namespace) error {
	if len(ns.Name) > MaxNamespaceBytes {
		return fmt.Errorf("kvjet: namespace name of %d bytes (at most %d)", len(ns.Name), MaxNamespaceBytes)
	}
	return nil
}

// entry is the last message of a subject: seq 0 when the subject has none.
type entry struct {
	seq     uint64
	present bool
	value   []byte
}

// load reads subject's last message from the stream leader.
func (s *Store) load(ctx context.Context, subject string) (entry, error) {
	var m *jetstream.RawStreamMsg
	err := s.unavailable(ctx, func(rctx context.Context) (err error) {
		m, err = s.stream.GetLastMsgForSubject(rctx, subject)
		return err
	})
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return entry{}, nil
	}
	if err != nil {
		return entry{}, fmt.Errorf("kvjet: read: %w", err)
	}
	if m.Header.Get(hdrOp) == opDel {
		return entry{seq: m.Sequence}, nil
	}
	return entry{seq: m.Sequence, present: true, value: m.Data}, nil
}

// unavailable runs a read request, again while JetStream cannot answer (no stream leader
// during a fail-over, a timeout) for up to 4 timeouts.
func (s *Store) unavailable(ctx context.Context, req func(context.Context) error) error {
	deadline := time.Now().Add(4 * s.timeout)
	for {
		rctx, cancel := context.WithTimeout(ctx, s.timeout)
		err := req(rctx)
		cancel()
		if !transient(ctx, err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// transient reports whether err is JetStream being briefly unable to answer (a fail-over, a
// timeout) while ctx is still live.
func transient(ctx context.Context, err error) bool {
	var apiErr *jetstream.APIError
	return ctx.Err() == nil && (errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &apiErr) && apiErr.Code == 503))
}

// loadUsage reads the namespace's usage.
func (s *Store) loadUsage(ctx context.Context, ns string) (int64, uint64, error) {
	e, err := s.load(ctx, s.usageSubject(ns))
	if err != nil || !e.present {
		return 0, e.seq, err
	}
	n, err := strconv.ParseInt(string(e.value), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("kvjet: usage of namespace %q: %w", ns, err)
	}
	return n, e.seq, nil
}

func entrySize(key string, value []byte) int64 { return int64(len(key) + len(value)) }

// errConflict: another write changed a subject the batch expected unchanged; retry.
var errConflict = errors.New("kvjet: concurrent write")

// msg builds one message of a batch, expecting subject's last sequence to be seq.
func msg(subject string, data []byte, seq uint64) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(hdrExpSeq, strconv.FormatUint(seq, 10))
	return m
}

// pubAck is JetStream's reply to a batch's commit.
type pubAck struct {
	Seq   uint64 `json:"seq"`
	Error *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
}

// commit publishes msgs as one atomic batch and waits for JetStream's acknowledgement (a
// quorum of the replicas stored it). A batch whose acknowledgement was lost (timeout, leader
// change) is sent again with the same message ids: if the first one committed, JetStream
// reports the duplicates and the write counts as done, so no write is applied twice or
// reported lost when it was not. errConflict when an expected sequence did not match.
func (s *Store) commit(ctx context.Context, msgs []*nats.Msg) error {
	var idb [12]byte
	_, _ = rand.Read(idb[:])
	id := hex.EncodeToString(idb[:])
	for i, m := range msgs {
		m.Header.Set(hdrMsgID, id+"."+strconv.Itoa(i))
	}
	deadline := time.Now().Add(4 * s.timeout)
	for attempt := 0; ; attempt++ {
		bid := id + "-" + strconv.Itoa(attempt)
		for i, m := range msgs {
			m.Header.Set(hdrBatch, bid)
			m.Header.Set(hdrBSeq, strconv.Itoa(i+1))
		}
		last := msgs[len(msgs)-1]
		last.Header.Set(hdrCommit, "1")
		err := func() error {
			for _, m := range msgs[:len(msgs)-1] {
				if err := s.nc.PublishMsg(m); err != nil {
					return err
				}
			}
			rctx, cancel := context.WithTimeout(ctx, min(s.timeout, attemptTimeout))
			defer cancel()
			reply, err := s.nc.RequestMsgWithContext(rctx, last)
			if err != nil {
				return err
			}
			var ack pubAck
			if err := json.Unmarshal(reply.Data, &ack); err != nil {
				return fmt.Errorf("kvjet: commit reply %q: %w", reply.Data, err)
			}
			if ack.Error == nil {
				return nil
			}
			switch ack.Error.ErrCode {
			case codeWrongLastSeq, codeWrongLastSeqConst:
				return errConflict
			case codeBatchDuplicate:
				if attempt > 0 {
					return nil // the earlier attempt committed
				}
			case codeBatchIncomplete, codeDupInProcess:
				return errRetry
			}
			return fmt.Errorf("kvjet: commit: %s (code %d)", ack.Error.Description, ack.Error.ErrCode)
		}()
		switch {
		case err == nil, errors.Is(err, errConflict):
			return err
		case errors.Is(err, errRetry), errors.Is(err, nats.ErrTimeout), errors.Is(err, nats.ErrNoResponders),
			errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			if time.Now().After(deadline) {
				return fmt.Errorf("kvjet: commit not acknowledged after %v (the write may or may not have been applied): %w", 4*s.timeout, err)
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("kvjet: commit not acknowledged (the write may or may not have been applied): %w", ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		default:
			return fmt.Errorf("kvjet: commit: %w", err)
		}
	}
}

// attemptTimeout bounds the wait for one commit attempt's acknowledgement; the batch is then
// sent again (same message ids, so at most one copy commits) until 4 × Config.Timeout. It is
// short because a batch JetStream dropped (contention on a subject, a leader change) gets no
// reply at all.
const attemptTimeout = time.Second

var errRetry = errors.New("kvjet: batch not taken, retrying")

// retry runs one optimistic attempt of a write until it does not conflict.
func (s *Store) retry(ctx context.Context, attempt func() error) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	backoff := time.Millisecond
	for {
		err := attempt()
		if !errors.Is(err, errConflict) {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		var b [1]byte
		_, _ = rand.Read(b[:])
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff + time.Duration(b[0])*backoff/256):
		}
		backoff = min(2*backoff, 50*time.Millisecond)
	}
}

// write stores key=value (tombstone when del) if the entry still is old and the usage
// allows it: one atomic batch of the usage and the key.
func (s *Store) write(ctx context.Context, ns kv.Namespace, key string, old entry, value []byte, del bool) error {
	var oldSize, newSize int64
	if old.present {
		oldSize = entrySize(key, old.value)
	}
	if !del {
		newSize = entrySize(key, value)
	}
	usage, useq, err := s.loadUsage(ctx, ns.Name)
	if err != nil {
		return err
	}
	after, ok := kv.Grows(usage, oldSize, newSize, ns.Quota())
	if !ok {
		// Refuse only on a consistent view: the key did not change since the usage was read.
		again, err := s.load(ctx, s.keySubject(ns.Name, key))
		if err != nil {
			return err
		}
		if again.seq != old.seq {
			return errConflict
		}
		return kv.ErrQuota
	}
	um := msg(s.usageSubject(ns.Name), []byte(strconv.FormatInt(after, 10)), useq)
	km := msg(s.keySubject(ns.Name, key), value, old.seq)
	if del {
		km.Data = nil
		km.Header.Set(hdrOp, opDel)
		km.Header.Set(hdrTTL, ttl)
	}
	return s.commit(ctx, []*nats.Msg{um, km})
}

func checkWrite(ns kv.Namespace, key string, value []byte) error {
	if err := kv.ValidKey(key); err != nil {
		return err
	}
	if len(value) > kv.MaxValueBytes {
		return kv.ErrTooLarge
	}
	return checkNamespace(ns)
}

// Get implements kv.Store.
func (s *Store) Get(ctx context.Context, ns kv.Namespace, key string) ([]byte, error) {
	if err := kv.ValidKey(key); err != nil {
		return nil, err
	}
	if err := checkNamespace(ns); err != nil {
		return nil, err
	}
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	e, err := s.load(ctx, s.keySubject(ns.Name, key))
	if err != nil {
		return nil, err
	}
	if !e.present {
		return nil, kv.ErrNotFound
	}
	if e.value == nil {
		e.value = []byte{}
	}
	return e.value, nil
}

// Set implements kv.Store.
func (s *Store) Set(ctx context.Context, ns kv.Namespace, key string, value []byte) error {
	if err := checkWrite(ns, key, value); err != nil {
		return err
	}
	value = bytes.Clone(value)
	return s.retry(ctx, func() error {
		old, err := s.load(ctx, s.keySubject(ns.Name, key))
		if err != nil {
			return err
		}
		return s.write(ctx, ns, key, old, value, false)
	})
}

// Delete implements kv.Store.
func (s *Store) Delete(ctx context.Context, ns kv.Namespace, key string) error {
	if err := kv.ValidKey(key); err != nil {
		return err
	}
	if err := checkNamespace(ns); err != nil {
		return err
	}
	return s.retry(ctx, func() error {
		old, err := s.load(ctx, s.keySubject(ns.Name, key))
		if err != nil || !old.present {
			return err
		}
		return s.write(ctx, ns, key, old, nil, true)
	})
}

// CAS implements kv.Store.
func (s *Store) CAS(ctx context.Context, ns kv.Namespace, key string, expected []byte, expectPresent bool, value []byte) error {
	if err := checkWrite(ns, key, value); err != nil {
		return err
	}
	value, expected = bytes.Clone(value), bytes.Clone(expected)
	return s.retry(ctx, func() error {
		old, err := s.load(ctx, s.keySubject(ns.Name, key))
		if err != nil {
			return err
		}
		if old.present != expectPresent || (old.present && !bytes.Equal(old.value, expected)) {
			return kv.ErrCASMismatch
		}
		return s.write(ctx, ns, key, old, value, false)
	})
}

// liveKey is one key of a listing with its subject sequence and value size.
type liveKey struct {
	token string
	seq   uint64
	size  int64
}

// scan reads the last message of every key subject of the namespace (headers only) and
// returns the live keys, sorted, with the stream's last sequence before the scan.
func (s *Store) scan(ctx context.Context, ns string) (keys []liveKey, lastSeq uint64, err error) {
	deadline := time.Now().Add(4 * s.timeout)
	for {
		keys, lastSeq, err = s.scanOnce(ctx, ns)
		if err == nil || !(transient(ctx, err) || errors.Is(err, errStale)) || time.Now().After(deadline) {
			return keys, lastSeq, err
		}
		select {
		case <-ctx.Done():
			return nil, 0, err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// errStale: the replica that served a scan had not yet applied the namespace's last write.
var errStale = errors.New("kvjet: list served by a replica behind the stream leader")

// scanOnce is one attempt of scan. The scan is a consumer, which JetStream places on any
// replica of the stream, and a replica applies a committed write some time after the leader
// acknowledged it; so the scan is fenced: it reads the sequence of the namespace's usage record
// from the stream leader first (every write of the namespace rewrites that record in the same
// atomic batch), delivers the record along with the keys, and is errStale unless the replica's
// copy is at least that recent, i.e. unless it holds every write acknowledged before the scan.
func (s *Store) scanOnce(ctx context.Context, ns string) ([]liveKey, uint64, error) {
	rctx, cancel := context.WithTimeout(ctx, 4*s.timeout)
	defer cancel()
	usage := s.usageSubject(ns)
	fence, err := s.load(rctx, usage)
	if err != nil {
		return nil, 0, err
	}
	var info *jetstream.StreamInfo
	err = s.unavailable(rctx, func(rctx context.Context) (err error) {
		info, err = s.stream.Info(rctx)
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("kvjet: stream info: %w", err)
	}
	lastSeq := info.State.LastSeq
	filter := s.prefix + nsToken(ns) + ".*"
	cons, err := s.js.OrderedConsumer(rctx, s.name, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter, usage},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
		HeadersOnly:    true,
	})
	if err != nil {
		return nil, 0, fmt.Errorf("kvjet: list: %w", err)
	}
	defer func() {
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		_ = s.js.DeleteConsumer(dctx, s.name, cons.CachedInfo().Name)
		dcancel()
	}()
	var keys []liveKey
	var fenceSeen uint64
	remaining := cons.CachedInfo().NumPending
	for remaining > 0 {
		// Fetch exactly what remains (at most 1 024): a fetch of more waits out its MaxWait.
		batch, err := cons.Fetch(int(min(remaining, 1024)), jetstream.FetchMaxWait(s.timeout))
		if err != nil {
			return nil, 0, fmt.Errorf("kvjet: list: %w", err)
		}
		n, pending := 0, uint64(1)
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				return nil, 0, fmt.Errorf("kvjet: list: %w", err)
			}
			pending = md.NumPending
			if md.Sequence.Stream > lastSeq {
				lastSeq = md.Sequence.Stream
			}
			if m.Subject() == usage {
				fenceSeen = md.Sequence.Stream
				continue
			}
			if m.Headers().Get(hdrOp) == opDel {
				continue
			}
			size, _ := strconv.ParseInt(m.Headers().Get(hdrSize), 10, 64)
			tok := m.Subject()[len(filter)-1:]
			keys = append(keys, liveKey{token: tok, seq: md.Sequence.Stream, size: size})
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, 0, fmt.Errorf("kvjet: list: %w", err)
		}
		remaining = pending
		if n == 0 {
			return nil, 0, fmt.Errorf("kvjet: list: no messages within %v", s.timeout)
		}
	}
	if fenceSeen < fence.seq {
		return nil, 0, fmt.Errorf("%w: usage record at sequence %d, the leader's at %d", errStale, fenceSeen, fence.seq)
	}
	slices.SortFunc(keys, func(a, b liveKey) int { return strings.Compare(a.token, b.token) })
	return keys, lastSeq, nil
}

// listKeys returns the namespace's live key tokens, sorted. A listing is cached with the
// stream's last sequence and reused while the stream has no newer message (one stream-info
// request per page instead of a scan), so walking a namespace page by page costs one scan.
func (s *Store) listKeys(ctx context.Context, ns string) ([]string, error) {
	tok := nsToken(ns)
	var info *jetstream.StreamInfo
	err := s.unavailable(ctx, func(rctx context.Context) (err error) {
		info, err = s.stream.Info(rctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("kvjet: stream info: %w", err)
	}
	s.cacheMu.Lock()
	c := s.cache[tok]
	s.cacheMu.Unlock()
	if c != nil && c.lastSeq == info.State.LastSeq {
		return c.keys, nil
	}
	live, lastSeq, err := s.scan(ctx, ns)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(live))
	for i, k := range live {
		keys[i] = k.token
	}
	s.cacheMu.Lock()
	if len(s.cache) >= maxCached {
		clear(s.cache)
	}
	s.cache[tok] = &listing{lastSeq: lastSeq, keys: keys}
	s.cacheMu.Unlock()
	return keys, nil
}

// List implements kv.Store.
func (s *Store) List(ctx context.Context, ns kv.Namespace, prefix, cursor string, limit int) (kv.Page, error) {
	if err := kv.ValidPrefix(prefix); err != nil {
		return kv.Page{}, err
	}
	if err := kv.ValidPrefix(cursor); err != nil {
		return kv.Page{}, err
	}
	if err := checkNamespace(ns); err != nil {
		return kv.Page{}, err
	}
	limit = kv.PageLimit(limit)
	if err := s.enter(ctx); err != nil {
		return kv.Page{}, err
	}
	defer s.mu.RUnlock()
	keys, err := s.listKeys(ctx, ns.Name)
	if err != nil {
		return kv.Page{}, err
	}
	ptok := keyToken(prefix)
	i, _ := slices.BinarySearch(keys, ptok)
	if cursor != "" {
		ctok := keyToken(cursor)
		j, found := slices.BinarySearch(keys, ctok)
		if found {
			j++
		}
		i = max(i, j)
	}
	var page kv.Page
	for ; i < len(keys) && strings.HasPrefix(keys[i], ptok); i++ {
		if len(page.Keys) == limit {
			page.More = true
			break
		}
		b, err := hex.DecodeString(keys[i][1:])
		if err != nil {
			return kv.Page{}, fmt.Errorf("kvjet: subject token %q: %w", keys[i], err)
		}
		page.Keys = append(page.Keys, string(b))
	}
	return page, nil
}

// clearChunk bounds the keys deleted by one atomic batch of ClearPrefix (JetStream allows
// 1 000 messages per batch; one is the usage).
const clearChunk = 500

// ClearPrefix implements kv.Store. The keys are deleted in atomic batches of up to 500 (each
// with the usage), so a concurrent reader of a prefix of more than 500 keys may see it
// partly cleared; the count and the usage are exact.
func (s *Store) ClearPrefix(ctx context.Context, ns kv.Namespace, prefix string) (uint64, error) {
	if err := kv.ValidPrefix(prefix); err != nil {
		return 0, err
	}
	if err := checkNamespace(ns); err != nil {
		return 0, err
	}
	var total uint64
	ptok := keyToken(prefix)
	err := s.retry(ctx, func() error {
		for {
			live, _, err := s.scan(ctx, ns.Name)
			if err != nil {
				return err
			}
			var batch []liveKey
			for _, k := range live {
				if strings.HasPrefix(k.token, ptok) {
					batch = append(batch, k)
					if len(batch) == clearChunk {
						break
					}
				}
			}
			if len(batch) == 0 {
				return nil
			}
			usage, useq, err := s.loadUsage(ctx, ns.Name)
			if err != nil {
				return err
			}
			msgs := []*nats.Msg{nil}
			for _, k := range batch {
				m := msg(s.prefix+nsToken(ns.Name)+"."+k.token, nil, k.seq)
				m.Header.Set(hdrOp, opDel)
				m.Header.Set(hdrTTL, ttl)
				msgs = append(msgs, m)
				usage -= int64((len(k.token)-1)/2) + k.size
			}
			msgs[0] = msg(s.usageSubject(ns.Name), []byte(strconv.FormatInt(usage, 10)), useq)
			if err := s.commit(ctx, msgs); err != nil {
				return err
			}
			total += uint64(len(batch))
		}
	})
	return total, err
}

// Usage implements kv.Store.
func (s *Store) Usage(ctx context.Context, ns kv.Namespace) (int64, error) {
	if err := checkNamespace(ns); err != nil {
		return 0, err
	}
	if err := s.enter(ctx); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	n, _, err := s.loadUsage(ctx, ns.Name)
	return n, err
}

// ttl is TombstoneTTL as a Nats-TTL header value (seconds).
var ttl = strconv.Itoa(int(TombstoneTTL/time.Second)) + "s"
