// Command storebench measures the two embedded-store candidates for astrid:kv (bbolt and
// pebble) on this machine: durable sets per second and their p99 latency with 1 and 16
// concurrent writers (every set fsynced before it returns; group commit where the store
// allows it), and the time to reopen a store holding 1 M keys. It is a separate module so
// pebble never becomes a dependency of the runtime; RATIONALE.md ("KV store") has the figures.
//
//	cd internal/kvstore/storebench && go run . -dur 3s -keys 1000000
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble"
	bolt "go.etcd.io/bbolt"
)

func main() {
	dur := flag.Duration("dur", 3*time.Second, "length of each write measurement")
	keys := flag.Int("keys", 1_000_000, "keys loaded for the reopen measurement")
	dir := flag.String("dir", "", "scratch directory (default: a temp dir)")
	flag.Parse()
	if *dir == "" {
		d, err := os.MkdirTemp("", "storebench")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	only := flag.Arg(0)
	for _, s := range []store{&boltStore{}, &boltStore{noFreelistSync: true}, &pebbleStore{}} {
		if only != "" && only != s.name() {
			continue
		}
		for _, writers := range []int{1, 16} {
			path := filepath.Join(*dir, fmt.Sprintf("%s-w%d", s.name(), writers))
			if err := s.open(path); err != nil {
				log.Fatal(err)
			}
			r := measureSets(s, writers, *dur)
			fmt.Printf("%-20s writers=%-2d sets/s=%8.0f p50=%v p99=%v\n", s.name(), writers, r.perSec, r.p50, r.p99)
			if err := s.close(); err != nil {
				log.Fatal(err)
			}
			_ = os.RemoveAll(path)
		}
		path := filepath.Join(*dir, s.name()+"-reopen")
		if err := s.open(path); err != nil {
			log.Fatal(err)
		}
		t0 := time.Now()
		if err := s.load(*keys); err != nil {
			log.Fatal(err)
		}
		loaded := time.Since(t0)
		if err := s.close(); err != nil {
			log.Fatal(err)
		}
		t0 = time.Now()
		if err := s.open(path); err != nil {
			log.Fatal(err)
		}
		v, err := s.get(key(*keys / 2))
		if err != nil || len(v) != 100 {
			log.Fatalf("%s: get after reopen: %v (%d bytes)", s.name(), err, len(v))
		}
		reopen := time.Since(t0)
		size := dirSize(path)
		fmt.Printf("%-20s load %d keys in %v; reopen+first get %v; on disk %d MiB\n", s.name(), *keys, loaded.Round(time.Millisecond), reopen, size>>20)
		if err := s.close(); err != nil {
			log.Fatal(err)
		}
		_ = os.RemoveAll(path)
	}
}

type result struct {
	perSec   float64
	p50, p99 time.Duration
}

func measureSets(s store, writers int, dur time.Duration) result {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		lat   []time.Duration
		total atomic.Int64
	)
	deadline := time.Now().Add(dur)
	start := time.Now()
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			val := make([]byte, 100)
			var mine []time.Duration
			for time.Now().Before(deadline) {
				k := key(rng.IntN(100_000))
				t := time.Now()
				if err := s.set(k, val); err != nil {
					log.Fatal(err)
				}
				mine = append(mine, time.Since(t))
			}
			total.Add(int64(len(mine)))
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	el := time.Since(start)
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[int(float64(len(lat)-1)*p)] }
	return result{perSec: float64(total.Load()) / el.Seconds(), p50: q(0.50), p99: q(0.99)}
}

func key(i int) []byte {
	b := make([]byte, 12)
	copy(b, "key:")
	binary.BigEndian.PutUint64(b[4:], uint64(i))
	return b
}

func dirSize(p string) int64 {
	var n int64
	_ = filepath.Walk(p, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

type store interface {
	name() string
	open(path string) error
	set(k, v []byte) error // durable when it returns
	get(k []byte) ([]byte, error)
	load(n int) error // n keys of 100 bytes, large batches
	close() error
}

// boltStore commits with the group commit the runtime would use: one committer goroutine
// applies every set queued while the previous transaction was syncing in one transaction.
type boltStore struct {
	noFreelistSync bool
	db             *bolt.DB
	reqs           chan boltReq
	done           chan struct{}
}

type boltReq struct {
	k, v []byte
	err  chan error
}

var bucket = []byte("b")

func (b *boltStore) name() string {
	if b.noFreelistSync {
		return "bbolt-nofreelistsync"
	}
	return "bbolt"
}

func (b *boltStore) open(path string) error {
	if err := os.MkdirAll(path, 0o755); err != nil {
		return err
	}
	db, err := bolt.Open(filepath.Join(path, "kv.db"), 0o600, &bolt.Options{Timeout: time.Second, NoFreelistSync: b.noFreelistSync, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return err
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists(bucket); return err }); err != nil {
		return err
	}
	b.db, b.reqs, b.done = db, make(chan boltReq, 1024), make(chan struct{})
	go b.commit()
	return nil
}

func (b *boltStore) commit() {
	defer close(b.done)
	for r := range b.reqs {
		batch := []boltReq{r}
	more:
		for len(batch) < 1024 {
			select {
			case r, ok := <-b.reqs:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		err := b.db.Update(func(tx *bolt.Tx) error {
			bk := tx.Bucket(bucket)
			for _, r := range batch {
				if err := bk.Put(r.k, r.v); err != nil {
					return err
				}
			}
			return nil
		})
		for _, r := range batch {
			r.err <- err
		}
	}
}

func (b *boltStore) set(k, v []byte) error {
	r := boltReq{k: k, v: v, err: make(chan error, 1)}
	b.reqs <- r
	return <-r.err
}

func (b *boltStore) get(k []byte) (out []byte, err error) {
	err = b.db.View(func(tx *bolt.Tx) error {
		out = slices.Clone(tx.Bucket(bucket).Get(k))
		return nil
	})
	return out, err
}

func (b *boltStore) load(n int) error {
	val := make([]byte, 100)
	for i := 0; i < n; i += 50_000 {
		err := b.db.Update(func(tx *bolt.Tx) error {
			bk := tx.Bucket(bucket)
			bk.FillPercent = 0.9
			for j := i; j < min(n, i+50_000); j++ {
				if err := bk.Put(key(j), val); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (b *boltStore) close() error {
	close(b.reqs)
	<-b.done
	return b.db.Close()
}

// pebbleStore syncs every set (pebble.Sync); pebble's commit pipeline groups concurrent
// syncs into one WAL fsync.
type pebbleStore struct{ db *pebble.DB }

func (p *pebbleStore) name() string { return "pebble" }

func (p *pebbleStore) open(path string) error {
	db, err := pebble.Open(path, &pebble.Options{})
	p.db = db
	return err
}

func (p *pebbleStore) set(k, v []byte) error { return p.db.Set(k, v, pebble.Sync) }

func (p *pebbleStore) get(k []byte) ([]byte, error) {
	v, c, err := p.db.Get(k)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return slices.Clone(v), nil
}

func (p *pebbleStore) load(n int) error {
	val := make([]byte, 100)
	for i := 0; i < n; i += 50_000 {
		b := p.db.NewBatch()
		for j := i; j < min(n, i+50_000); j++ {
			if err := b.Set(key(j), val, nil); err != nil {
				return err
			}
		}
		if err := b.Commit(pebble.Sync); err != nil {
			return err
		}
	}
	return nil
}

func (p *pebbleStore) close() error { return p.db.Close() }
