package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/astrid-actors/astrid-actors/internal/kvjet"
	"github.com/astrid-actors/astrid-actors/internal/kvstore"
	"github.com/astrid-actors/astrid-actors/kv"
)

// runKVJet measures the cluster's kv store (internal/kvjet on a replicated R3 stream of a
// 3-server JetStream cluster in this process, every write fsynced: sync_interval always)
// driven from Go — durable sets/s and p99 from 1 and 16 writers, gets/s — against the node's
// bbolt store driven the same way, in alternating rounds.
func runKVJet(ctx context.Context, e *env) (out []Result, err error) {
	dir, err := os.MkdirTemp("", "astrid-bench-kvjet-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	js, stop, err := startJetCluster(dir)
	if err != nil {
		return nil, fmt.Errorf("jetstream cluster: %w", err)
	}
	defer stop()
	octx, cancel := context.WithTimeout(ctx, time.Minute)
	jst, err := kvjet.Open(octx, js, kvjet.Config{Bucket: "bench", Replicas: 3})
	cancel()
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, jst.Close()) }()
	for _, op := range []byte{'s', 'g'} {
		writersSet := []int{1, kvWriters}
		if op == 'g' {
			writersSet = []int{1}
		}
		for _, writers := range writersSet {
			bdir, err := os.MkdirTemp(dir, "bolt-")
			if err != nil {
				return out, err
			}
			bst, err := kvstore.Open(bdir)
			if err != nil {
				return out, err
			}
			// A fresh namespace per measurement: the writers' key counters start at 0.
			jrun := kvDirectOn(prefixed{jst, fmt.Sprintf("%c%d-", op, writers)}, writers)
			series, err := e.kvAlternate(ctx, op, jrun, kvDirectOn(bst, writers))
			err = errors.Join(err, bst.Close())
			if err != nil {
				return out, err
			}
			jet, bolt := series[0], series[1]
			what := fmt.Sprintf("%d writer", writers)
			if writers > 1 {
				what += "s"
			}
			if op == 'g' {
				note := fmt.Sprintf("%d kvjet.Get calls of %d-byte values from 1 goroutine (each a request to the stream leader), "+
					"rate = calls / time inside them; baseline: kvstore.Get the same way", len(jet.samples), kvValue)
				e.progress("kv: jetstream gets: %.0f gets/s; bbolt: %.0f gets/s", callRate(jet.samples), callRate(bolt.samples))
				out = append(out, result(ScenarioKV, "jetstream store gets/s 1 reader", "gets/s", callRate(jet.samples), "", nil, note,
					Baseline{Name: "bbolt store from Go", Value: callRate(bolt.samples)}))
				continue
			}
			note := fmt.Sprintf("%d kvjet.Set calls of %d-byte values from %s into one namespace of an R3 stream on 3 in-process "+
				"servers with sync always (each set an atomic batch of usage and key, acknowledged by a quorum); baseline: "+
				"kvstore.Set (bbolt, fsync, group commit) from %s, %d ops; %d alternating rounds", len(jet.samples), kvValue, what, what,
				len(bolt.samples), kvRounds)
			_, p99 := percentiles(jet.samples)
			_, bp99 := percentiles(bolt.samples)
			e.progress("kv: jetstream %s: %.0f sets/s, p99 %.0f µs; bbolt: %.0f sets/s, p99 %.0f µs",
				what, rate(len(jet.samples), jet.el), p99, rate(len(bolt.samples), bolt.el), bp99)
			out = append(out,
				result(ScenarioKV, "jetstream store durable sets/s "+what, "sets/s", rate(len(jet.samples), jet.el), "", nil, note,
					Baseline{Name: "bbolt store from Go", Value: rate(len(bolt.samples), bolt.el)}),
				result(ScenarioKV, "jetstream store set p99 "+what, "µs", p99, "", nil, note,
					Baseline{Name: "bbolt store from Go", Value: bp99}))
		}
	}
	return out, nil
}

// prefixed is a kv.Store whose namespaces get a prefix (measurements apart in one stream).
type prefixed struct {
	kv.Store
	p string
}

func (s prefixed) ns(n kv.Namespace) kv.Namespace { n.Name = s.p + n.Name; return n }

func (s prefixed) Get(ctx context.Context, n kv.Namespace, k string) ([]byte, error) {
	return s.Store.Get(ctx, s.ns(n), k)
}

func (s prefixed) Set(ctx context.Context, n kv.Namespace, k string, v []byte) error {
	return s.Store.Set(ctx, s.ns(n), k, v)
}

// startJetCluster starts a 3-server JetStream cluster on 127.0.0.1 with its stores under dir
// and every write fsynced, and connects to its first server.
func startJetCluster(dir string) (jetstream.JetStream, func(), error) {
	var ports []int
	var ls []net.Listener
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		_ = l.Close()
	}
	var servers []*server.Server
	stop := func() {
		for _, s := range servers {
			s.Shutdown()
			s.WaitForShutdown()
		}
	}
	for i := range 3 {
		o := &server.Options{
			ServerName: "bench" + strconv.Itoa(i), Host: "127.0.0.1", Port: server.RANDOM_PORT,
			NoSigs: true, NoLog: true, MaxPayload: 8 << 20,
			JetStream: true, StoreDir: filepath.Join(dir, "js"+strconv.Itoa(i)), SyncAlways: true,
			Cluster: server.ClusterOpts{Name: "bench", Host: "127.0.0.1", Port: ports[i]},
		}
		for _, p := range ports {
			o.Routes = append(o.Routes, &url.URL{Scheme: "nats-route", Host: "127.0.0.1:" + strconv.Itoa(p)})
		}
		s, err := server.NewServer(o)
		if err != nil {
			stop()
			return nil, nil, err
		}
		s.Start()
		servers = append(servers, s)
		if !s.ReadyForConnections(10 * time.Second) {
			stop()
			return nil, nil, errors.New("server not ready")
		}
	}
	nc, err := nats.Connect(servers[0].ClientURL())
	if err != nil {
		stop()
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		stop()
		return nil, nil, err
	}
	return js, func() { nc.Close(); stop() }, nil
}
