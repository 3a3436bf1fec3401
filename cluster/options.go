// Package cluster spreads one astrid-actors topic bus over several nodes. Every node embeds a
// NATS server (github.com/nats-io/nats-server/v2) whose routes connect it to the other nodes —
// no external server — and talks to it over an in-process nats.go connection.
//
// A Node implements bus.Remote: each node's bus tells it about every local publish and every
// subscription pattern. Nodes replicate their subscription patterns to each other, so a publish
// is sent only to nodes with a matching subscription, over a per-peer link: batches with link
// sequence numbers, cumulative acks, a send queue bounded in bytes that evicts its oldest
// message (counted) instead of blocking the publisher, and a byte-bounded window of unacked
// messages so one frozen peer cannot stall the links to the others. Remote messages are
// injected into the local bus with the envelope fields their origin stamped (seq, time,
// source, principal). Every message lost between nodes is counted by the link (LinkStats) and,
// where the sender knows it, reported to the receiving subscriptions as lagged.
//
// docs/cluster.md describes the guarantees and failure modes.
package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"go.uber.org/zap"

	icl "github.com/astrid-actors/astrid-actors/internal/cluster"
)

// Defaults of Options.
const (
	// DefaultListen is the route listen address when Options.Listen is empty: loopback, a free
	// port chosen by the system.
	DefaultListen = "127.0.0.1:0"
	// DefaultInterestTimeout bounds how long Subscribe waits for one peer to confirm a new
	// subscription pattern.
	DefaultInterestTimeout = time.Second
	// DefaultPollInterval is how often the node compares its routes with its members.
	DefaultPollInterval = 50 * time.Millisecond
	// DefaultPingInterval and DefaultMaxPingsOut make a route to a frozen node close after
	// about one second.
	DefaultPingInterval = 250 * time.Millisecond
	DefaultMaxPingsOut  = 3
	// DefaultLeaseTTL is how long a placement lease stays valid without a renewal; its owner
	// renews it every DefaultLeaseRenew. A standby node takes a lease over when it saw no
	// renewal for LeaseTTL, or at once when the owner's route closed.
	DefaultLeaseTTL   = time.Second
	DefaultLeaseRenew = 250 * time.Millisecond
	// maxNameBytes bounds cluster and node names.
	maxNameBytes = 64
)

// LinkLimits bound each link to a peer. Zero fields take the defaults of the internal link
// layer: an 8 MiB queue, a 4 MiB window (bandwidth × round trip, see docs/cluster.md), frames
// of at most 1024 messages or 256 KiB (BatchBytes is capped at 4 MiB).
type LinkLimits = icl.Limits

// Options configure a Node. Name and Node are required.
type Options struct {
	// Name is the cluster name; nodes of different clusters refuse each other's routes.
	Name string
	// Node is this node's name, unique in the cluster: letters, digits, '.', '_', '-'.
	Node string
	// Listen is the host:port the route listener binds; empty means DefaultListen. Port 0 picks
	// a free port (see Node.Addr).
	Listen string
	// Seeds are host:port route addresses of other nodes (listing this node's own address is
	// harmless). Nodes learn about the rest of the cluster from the seeds.
	Seeds []string
	// Token, when set, is the secret every route must present; nodes without it are refused.
	Token string
	// TLS, when set, secures the routes (both directions use it: give it Certificates, RootCAs
	// and ClientCAs with ClientAuth RequireAndVerifyClientCert for mutual TLS; see LoadTLS).
	TLS *tls.Config
	// Link bounds the links to peers.
	Link LinkLimits
	// InterestTimeout bounds the wait for one peer's confirmation of a new subscription
	// pattern; zero means DefaultInterestTimeout.
	InterestTimeout time.Duration
	// PollInterval is how often routes are compared with members; zero means
	// DefaultPollInterval.
	PollInterval time.Duration
	// PingInterval and MaxPingsOut configure the route pings that detect a frozen peer; zero
	// means the defaults.
	PingInterval time.Duration
	MaxPingsOut  int
	// StoreDir is where the embedded JetStream keeps its state (the lease bucket's replica
	// and the RAFT logs, and the replicated kv stream); empty means a temporary directory
	// removed by Close. The actors runtime passes it through as given (`run` leaves it empty,
	// so a node's JetStream state does not outlive the process; the replicas on the other
	// nodes do).
	StoreDir string
	// LeaseTTL and LeaseRenew time the placement leases (Claim); zero means the defaults.
	// LeaseRenew must be below LeaseTTL/2.
	LeaseTTL, LeaseRenew time.Duration
	// Capsules, when set, lists the capsules running on this node; the node polls it every
	// PollInterval and shares changes with the members (Members, Placement). The actors
	// runtime sets it.
	Capsules func() []string
	// Logger receives the node's log lines and the NATS server's warnings. Nil discards them.
	Logger *zap.Logger
}

// ErrInvalidOptions is returned (wrapped) by Start for unusable options.
var ErrInvalidOptions = errors.New("cluster: invalid options")

func validName(kind, s string) error {
	if s == "" {
		return fmt.Errorf("%w: %s name is empty", ErrInvalidOptions, kind)
	}
	if len(s) > maxNameBytes {
		return fmt.Errorf("%w: %s name %q is longer than %d bytes", ErrInvalidOptions, kind, s, maxNameBytes)
	}
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("%w: %s name %q: only letters, digits, '.', '_' and '-' are allowed", ErrInvalidOptions, kind, s)
		}
	}
	return nil
}

// splitHostPort parses a host:port with a numeric port.
func splitHostPort(kind, hp string) (string, int, error) {
	host, ps, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %s %q: %w", ErrInvalidOptions, kind, hp, err)
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%w: %s %q: port must be a number 0-65535", ErrInvalidOptions, kind, hp)
	}
	if host == "" {
		return "", 0, fmt.Errorf("%w: %s %q: the host is missing (use 127.0.0.1 for loopback)", ErrInvalidOptions, kind, hp)
	}
	return host, port, nil
}

func (o Options) withDefaults() (Options, error) {
	if err := validName("cluster", o.Name); err != nil {
		return o, err
	}
	if err := validName("node", o.Node); err != nil {
		return o, err
	}
	if o.Listen == "" {
		o.Listen = DefaultListen
	}
	if _, _, err := splitHostPort("listen address", o.Listen); err != nil {
		return o, err
	}
	for _, s := range o.Seeds {
		if _, port, err := splitHostPort("seed", s); err != nil {
			return o, err
		} else if port == 0 {
			return o, fmt.Errorf("%w: seed %q: port 0", ErrInvalidOptions, s)
		}
	}
	if o.InterestTimeout <= 0 {
		o.InterestTimeout = DefaultInterestTimeout
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.PingInterval <= 0 {
		o.PingInterval = DefaultPingInterval
	}
	if o.MaxPingsOut <= 0 {
		o.MaxPingsOut = DefaultMaxPingsOut
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.LeaseRenew <= 0 {
		o.LeaseRenew = DefaultLeaseRenew
	}
	if 2*o.LeaseRenew >= o.LeaseTTL {
		return o, fmt.Errorf("%w: lease renewal every %v does not fit twice in the lease TTL %v", ErrInvalidOptions, o.LeaseRenew, o.LeaseTTL)
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	o.Link = o.Link.WithDefaults()
	return o, nil
}

// LoadTLS builds a mutual-TLS configuration for routes from PEM files: this node's certificate
// and key, and the CA that signed every node's certificate.
func LoadTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" || caFile == "" {
		return nil, fmt.Errorf("%w: route TLS needs a certificate, a key and a CA file", ErrInvalidOptions)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("cluster: load route certificate: %w", err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("cluster: read route CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w: %s holds no PEM certificate", ErrInvalidOptions, caFile)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}, nil
}
