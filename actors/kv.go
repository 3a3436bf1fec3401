package actors

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/astrid-actors/astrid-actors/internal/kvjet"
	"github.com/astrid-actors/astrid-actors/internal/kvstore"
	"github.com/astrid-actors/astrid-actors/kv"
)

// DefaultDataDir is where a runtime keeps its durable state when Options.DataDir is empty:
// $XDG_DATA_HOME/astrid-actors, else ~/.local/share/astrid-actors ("" when neither is known).
func DefaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "astrid-actors")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	return filepath.Join(home, ".local", "share", "astrid-actors")
}

// kvState is the runtime's store: Options.KV, or the bbolt store in the data directory,
// opened when the first capsule importing astrid:kv starts (a runtime whose capsules keep no
// state never touches the disk).
type kvState struct {
	mu     sync.Mutex
	store  kv.Store
	owned  bool // opened by the runtime, closed by Close
	closed bool
}

// kvFor returns the store for a capsule of module m: nil when m does not import kv.
func (r *Runtime) kvFor(m *Module) (kv.Store, error) {
	if !m.ImportsKV() {
		return nil, nil
	}
	return r.KV()
}

// KV returns the runtime's durable store, opening it in Options.DataDir (DefaultDataDir when
// empty) on first use, or Options.KV when set.
func (r *Runtime) KV() (kv.Store, error) {
	s := &r.kv
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrRuntimeClosed
	}
	if s.store != nil {
		return s.store, nil
	}
	if r.opts.KV != nil {
		s.store = r.opts.KV
		return s.store, nil
	}
	if js := r.clusterJetStream(); js != nil {
		// A node of a cluster keeps every namespace in the cluster's replicated stream, so a
		// capsule restarted on another node finds its state (docs/kv.md "Cluster").
		ctx, cancel := context.WithTimeout(context.Background(), kvClusterOpenTimeout)
		defer cancel()
		st, err := kvjet.Open(ctx, js, kvjet.Config{Replicas: min(3, len(r.cluster.Members()))})
		if err != nil {
			return nil, fmt.Errorf("kv store: cluster: %w", err)
		}
		s.store, s.owned = st, true
		return st, nil
	}
	dir := r.opts.DataDir
	if dir == "" {
		dir = DefaultDataDir()
	}
	if dir == "" {
		return nil, fmt.Errorf("kv store: no data directory (set Options.DataDir or --data-dir)")
	}
	st, err := kvstore.Open(dir)
	if err != nil {
		return nil, err
	}
	s.store, s.owned = st, true
	return st, nil
}

// kvClusterOpenTimeout bounds opening the cluster's kv stream (JetStream electing its
// leaders when the cluster just formed).
const kvClusterOpenTimeout = 30 * time.Second

// jetStreamNode is a cluster node whose embedded servers run JetStream.
type jetStreamNode interface {
	JetStream() jetstream.JetStream
}

// clusterJetStream returns the cluster node's JetStream context, or nil for a single-node
// runtime or a node without JetStream.
func (r *Runtime) clusterJetStream() jetstream.JetStream {
	if r.cluster == nil {
		return nil
	}
	n, ok := any(r.cluster).(jetStreamNode)
	if !ok {
		return nil
	}
	return n.JetStream()
}

// kvOpened returns the store if it is open, else nil.
func (r *Runtime) kvOpened() kv.Store {
	r.kv.mu.Lock()
	defer r.kv.mu.Unlock()
	return r.kv.store
}

// closeKV closes the store the runtime opened (a store given in Options.KV stays open: it is
// the embedder's).
func (r *Runtime) closeKV() error {
	s := &r.kv
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.store == nil || !s.owned {
		return nil
	}
	err := s.store.Close()
	s.store = nil
	if err != nil {
		return fmt.Errorf("close kv store: %w", err)
	}
	return nil
}
