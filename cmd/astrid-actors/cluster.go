package main

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/astrid-actors/astrid-actors/cluster"
)

// defaultClusterListen is the route listen address of `run --cluster` without --cluster-listen:
// loopback, the conventional NATS route port.
const defaultClusterListen = "127.0.0.1:6222"

// clusterJoinTimeout bounds how long `run --seeds` waits for the cluster before loading the
// capsules.
const clusterJoinTimeout = 5 * time.Second

// clusterTokenEnv may hold the route token instead of --cluster-token (which other local users
// can read in the process list).
const clusterTokenEnv = "ASTRID_CLUSTER_TOKEN"

// clusterFlags are the cluster flags of `run`.
type clusterFlags struct {
	name, node, listen, seeds, token string
	tlsCert, tlsKey, tlsCA           string
}

func (c *clusterFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&c.name, "cluster", "", "join the cluster `NAME`: the bus spans every node of it (needs --node)")
	f.StringVar(&c.node, "node", "", "this node's `NODE` name, unique in the cluster (letters, digits, '.', '_', '-')")
	f.StringVar(&c.listen, "cluster-listen", defaultClusterListen, "route listen address `HOST:PORT` of this node")
	f.StringVar(&c.seeds, "seeds", "", "route addresses of other nodes, `HOST:PORT[,HOST:PORT…]`")
	f.StringVar(&c.token, "cluster-token", "", "secret `TOKEN` every node of the cluster must present (or $"+clusterTokenEnv+")")
	f.StringVar(&c.tlsCert, "cluster-tls-cert", "", "route TLS certificate `FILE` (PEM; with --cluster-tls-key and --cluster-tls-ca)")
	f.StringVar(&c.tlsKey, "cluster-tls-key", "", "route TLS private key `FILE` (PEM)")
	f.StringVar(&c.tlsCA, "cluster-tls-ca", "", "CA `FILE` (PEM) that signed every node's route certificate")
}

// options validates the flags and returns the cluster options, or nil without --cluster.
func (c *clusterFlags) options(cmd *cobra.Command) (*cluster.Options, error) {
	f := cmd.Flags()
	if c.name == "" {
		for _, name := range []string{"node", "cluster-listen", "seeds", "cluster-token", "cluster-tls-cert", "cluster-tls-key", "cluster-tls-ca"} {
			if f.Changed(name) {
				return nil, usagef("--%s needs --cluster", name)
			}
		}
		return nil, nil
	}
	if c.node == "" {
		return nil, usagef("--cluster needs --node")
	}
	if _, _, err := net.SplitHostPort(c.listen); err != nil {
		return nil, usagef("--cluster-listen %q: want HOST:PORT: %v", c.listen, err)
	}
	var seeds []string
	if c.seeds != "" {
		for _, s := range strings.Split(c.seeds, ",") {
			s = strings.TrimSpace(s)
			if _, _, err := net.SplitHostPort(s); err != nil {
				return nil, usagef("--seeds %q: want HOST:PORT[,HOST:PORT…]: %v", s, err)
			}
			seeds = append(seeds, s)
		}
	}
	token := c.token
	if token == "" {
		token = os.Getenv(clusterTokenEnv)
	}
	opts := &cluster.Options{Name: c.name, Node: c.node, Listen: c.listen, Seeds: seeds, Token: token}
	if n := countSet(c.tlsCert, c.tlsKey, c.tlsCA); n > 0 {
		if n != 3 {
			return nil, usagef("--cluster-tls-cert, --cluster-tls-key and --cluster-tls-ca go together")
		}
		cfg, err := cluster.LoadTLS(c.tlsCert, c.tlsKey, c.tlsCA)
		if err != nil {
			return nil, usagef("%v", err)
		}
		opts.TLS = cfg
	}
	return opts, nil
}

func countSet(vals ...string) int {
	n := 0
	for _, v := range vals {
		if v != "" {
			n++
		}
	}
	return n
}

// clusterJSON is the body of /cluster.
type clusterJSON struct {
	Cluster   string              `json:"cluster"`
	Node      string              `json:"node"`
	Members   []cluster.Member    `json:"members"`
	Placement []cluster.Placement `json:"placement"`
	Links     []cluster.LinkStats `json:"links"`
}

// serveCluster serves /cluster: members, where each capsule runs, and the link counters. A
// single-node runtime answers 404.
func (m *metrics) serveCluster(w http.ResponseWriter, _ *http.Request) {
	r := m.rt.Load()
	if r == nil || r.Cluster() == nil {
		http.Error(w, "not a cluster node", http.StatusNotFound)
		return
	}
	n := r.Cluster()
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(clusterJSON{Cluster: n.ClusterName(), Node: n.Name(), Members: n.Members(), Placement: n.Placement(), Links: n.Links()})
}

// clusterCollector exports the cluster's members, placement and link counters.
type clusterCollector metrics

var (
	descMember = prometheus.NewDesc("astrid_cluster_member",
		"1 for every member of the cluster this node sees (itself included).", []string{"node"}, nil)
	descPlacement = prometheus.NewDesc("astrid_cluster_capsule_placement",
		"1 for every capsule and the node it runs on.", []string{"capsule", "node"}, nil)
	descLinkUp = prometheus.NewDesc("astrid_cluster_link_up",
		"1 while the peer is a member.", []string{"peer"}, nil)
	descLinkCounter = prometheus.NewDesc("astrid_cluster_link_messages_total",
		"Messages on the link to a peer: enqueued, sent, acked, lost (lost_queued, lost_unacked, lost_transit), received, lagged.", []string{"peer", "what"}, nil)
	descLinkQueued = prometheus.NewDesc("astrid_cluster_link_queued_bytes",
		"Bytes waiting to be sent to the peer.", []string{"peer"}, nil)
)

// Describe implements prometheus.Collector.
func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMember, descPlacement, descLinkUp, descLinkCounter, descLinkQueued} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.rt.Load()
	if r == nil || r.Cluster() == nil {
		return
	}
	n := r.Cluster()
	for _, mb := range n.Members() {
		ch <- prometheus.MustNewConstMetric(descMember, prometheus.GaugeValue, 1, mb.Node)
	}
	for _, p := range n.Placement() {
		ch <- prometheus.MustNewConstMetric(descPlacement, prometheus.GaugeValue, 1, p.Capsule, p.Node)
	}
	for _, l := range n.Links() {
		up := 0.0
		if l.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descLinkUp, prometheus.GaugeValue, up, l.Peer)
		for what, v := range map[string]uint64{"enqueued": l.Enqueued, "sent": l.Sent, "acked": l.Acked, "lost": l.Lost,
			"lost_queued": l.LostQueued, "lost_unacked": l.LostUnacked, "lost_transit": l.LostTransit,
			"received": l.Received, "lagged": l.Lagged} {
			ch <- prometheus.MustNewConstMetric(descLinkCounter, prometheus.CounterValue, float64(v), l.Peer, what)
		}
		ch <- prometheus.MustNewConstMetric(descLinkQueued, prometheus.GaugeValue, float64(l.QueuedBytes), l.Peer)
	}
}
