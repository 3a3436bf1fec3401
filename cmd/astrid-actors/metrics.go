package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"

	"github.com/astrid-actors/astrid-actors/actors"
)

// metrics serves /metrics (Prometheus, from a registry of its own) and /capsules (JSON).
//
// Capsule counters and states are read from Runtime.Capsules at scrape time (a custom
// collector emitting const metrics), so nothing is counted twice and a restarted capsule keeps
// its totals. Host-call latencies are observed as they happen, through
// actors.Options.ObserveHostCall.
type metrics struct {
	reg       *prometheus.Registry
	hostCalls *prometheus.HistogramVec
	observers sync.Map // hostCallKey → prometheus.Observer
	rt        atomic.Pointer[actors.Runtime]
	srv       *http.Server
	done      chan struct{}
	limits    serverLimits
}

// serverLimits bound the metrics server: a slow or idle client cannot hold a connection (and
// its file descriptor and goroutine) for long, and at most MaxConns are open at once (further
// connections wait in the listen backlog).
type serverLimits struct {
	ReadHeader, Read, Write, Idle time.Duration
	MaxConns                      int
}

// defaultServerLimits are the metrics server's limits (docs/limits.md). A scrape of a few
// thousand capsules is written well within the write timeout.
var defaultServerLimits = serverLimits{
	ReadHeader: 5 * time.Second,
	Read:       10 * time.Second,
	Write:      30 * time.Second,
	Idle:       60 * time.Second,
	MaxConns:   64,
}

type hostCallKey struct{ capsule, fn string }

// hostCallBuckets span a non-blocking host call (about a microsecond) to a recv that waits
// for its whole timeout (up to 60 s).
var hostCallBuckets = []float64{1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		hostCalls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "astrid_host_call_duration_seconds",
			Help:    "Duration of the host calls capsules make, by capsule and host function (blocking calls such as subscription-recv include their wait).",
			Buckets: hostCallBuckets,
		}, []string{"capsule", "fn"}),
		done:   make(chan struct{}),
		limits: defaultServerLimits,
	}
	m.reg.MustRegister(m.hostCalls, (*runtimeCollector)(m), (*clusterCollector)(m),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observe is the runtime's ObserveHostCall hook. Capsule ids are bounded by the loaded set and
// function names by the ABI, so the label sets stay bounded.
func (m *metrics) observe(capsuleID, fn string, d time.Duration) {
	k := hostCallKey{capsuleID, fn}
	o, ok := m.observers.Load(k)
	if !ok {
		o, _ = m.observers.LoadOrStore(k, m.hostCalls.WithLabelValues(capsuleID, fn))
	}
	o.(prometheus.Observer).Observe(d.Seconds())
}

// attach makes the runtime's capsules visible to scrapes.
func (m *metrics) attach(r *actors.Runtime) { m.rt.Store(r) }

// serve starts the HTTP server on ln.
func (m *metrics) serve(ln net.Listener, notes *lineWriter) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	mux.HandleFunc("GET /capsules", m.serveCapsules)
	mux.HandleFunc("GET /cluster", m.serveCluster)
	l := m.limits
	m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: l.ReadHeader, ReadTimeout: l.Read, WriteTimeout: l.Write,
		IdleTimeout: l.Idle, MaxHeaderBytes: 64 << 10}
	ln = netutil.LimitListener(ln, l.MaxConns)
	go func() {
		defer close(m.done)
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			notes.notef("metrics server: %v", err)
		}
	}()
}

// shutdown stops the HTTP server.
func (m *metrics) shutdown() {
	if m.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if m.srv.Shutdown(ctx) != nil {
		_ = m.srv.Close()
	}
	<-m.done
}

// capsuleJSON is one element of /capsules.
type capsuleJSON struct {
	ID         string `json:"id"`
	State      string `json:"state"`
	InstanceID string `json:"instance_id"`
	Instances  int    `json:"instances"`
	Restarts   int    `json:"restarts"`
	LastError  string `json:"last_error,omitempty"`
	Discarded  uint64 `json:"discarded"`
	Published  uint64 `json:"published"`
	Matched    uint64 `json:"matched"`
	Delivered  uint64 `json:"delivered"`
	Dropped    uint64 `json:"dropped"`
	Queued     uint64 `json:"queued"`
	// Node is the cluster node the capsule runs on (absent on a single node).
	Node string `json:"node,omitempty"`
}

func toCapsuleJSON(sts []actors.Status) []capsuleJSON {
	out := make([]capsuleJSON, 0, len(sts))
	for _, st := range sts {
		out = append(out, capsuleJSON{ID: st.ID, State: st.State.String(), InstanceID: st.InstanceID.String(),
			Instances: st.Instances, Restarts: st.Restarts, LastError: st.LastError, Discarded: st.Discarded,
			Published: st.Published, Matched: st.Matched, Delivered: st.Delivered, Dropped: st.Dropped, Queued: st.Queued})
	}
	return out
}

func (m *metrics) serveCapsules(w http.ResponseWriter, _ *http.Request) {
	var sts []actors.Status
	node := ""
	if r := m.rt.Load(); r != nil {
		sts = r.Capsules()
		if n := r.Cluster(); n != nil {
			node = n.Name()
		}
	}
	out := toCapsuleJSON(sts)
	for i := range out {
		out[i].Node = node
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}

// runtimeCollector exports the runtime's capsule statuses and dispatcher counters.
type runtimeCollector metrics

var (
	descPublished = prometheus.NewDesc("astrid_capsule_messages_published_total",
		"Messages the capsule published (accepted publishes), over all its instances.", []string{"capsule"}, nil)
	// For every capsule, matched = delivered + dropped + discarded + queued at every scrape.
	descMatched = prometheus.NewDesc("astrid_capsule_messages_matched_total",
		"Messages offered to the capsule's subscriptions, over all its instances.", []string{"capsule"}, nil)
	descDelivered = prometheus.NewDesc("astrid_capsule_messages_delivered_total",
		"Messages delivered to the capsule, over all its instances.", []string{"capsule"}, nil)
	descDropped = prometheus.NewDesc("astrid_capsule_messages_dropped_total",
		"Messages lost to the capsule's full mailboxes (evicted or oversize), over all its instances.", []string{"capsule"}, nil)
	descDiscarded = prometheus.NewDesc("astrid_capsule_messages_discarded_total",
		"Messages still queued when a subscription of the capsule closed (its instance ended, or it dropped the subscription).", []string{"capsule"}, nil)
	descQueued = prometheus.NewDesc("astrid_capsule_messages_queued",
		"Messages waiting in the capsule's mailboxes.", []string{"capsule"}, nil)
	descRefused = prometheus.NewDesc("astrid_host_calls_refused_total",
		"Host calls refused, by capsule, host function and ABI error code, over all the capsule's instances (exact; the audit log aggregates them).",
		[]string{"capsule", "fn", "code"}, nil)
	descRestarts = prometheus.NewDesc("astrid_capsule_restarts_total",
		"Restarts the supervisor decided for the capsule.", []string{"capsule"}, nil)
	descState = prometheus.NewDesc("astrid_capsule_state",
		"1 for the capsule's current state, 0 for the others.", []string{"capsule", "state"}, nil)
	descLive = prometheus.NewDesc("astrid_capsules_live",
		"Capsules whose current instance is running or ready.", nil, nil)
	descChains = prometheus.NewDesc("astrid_interceptor_chains_total",
		"Messages that started an interceptor chain.", nil, nil)
	descChainsDropped = prometheus.NewDesc("astrid_interceptor_dropped_total",
		"Messages that matched interceptors but were not intercepted (too many chains in flight).", nil, nil)
	descHandlerErrors = prometheus.NewDesc("astrid_interceptor_handler_errors_total",
		"Interceptor handler calls that failed (trap, timeout, no instance, malformed result).", nil, nil)
)

// allStates lists every capsule state, for the 0/1 state gauge.
var allStates = []actors.State{actors.StateStarting, actors.StateRunning, actors.StateReady,
	actors.StateRestarting, actors.StateExited, actors.StateFailed, actors.StateStopped}

// Describe implements prometheus.Collector.
func (c *runtimeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPublished, descMatched, descDelivered, descDropped, descDiscarded, descQueued, descRefused, descRestarts,
		descState, descLive, descChains, descChainsDropped, descHandlerErrors} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *runtimeCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.rt.Load()
	if r == nil {
		return
	}
	live := 0
	for _, st := range r.Capsules() {
		counter := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, st.ID)
		}
		counter(descPublished, float64(st.Published))
		counter(descMatched, float64(st.Matched))
		counter(descDelivered, float64(st.Delivered))
		counter(descDropped, float64(st.Dropped))
		counter(descDiscarded, float64(st.Discarded))
		ch <- prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(st.Queued), st.ID)
		counter(descRestarts, float64(st.Restarts))
		for _, rf := range st.Refused {
			ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(rf.Count), st.ID, rf.Fn, rf.Code.String())
		}
		for _, s := range allStates {
			v := 0.0
			if s == st.State {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, v, st.ID, s.String())
		}
		if st.State == actors.StateRunning || st.State == actors.StateReady {
			live++
		}
	}
	ch <- prometheus.MustNewConstMetric(descLive, prometheus.GaugeValue, float64(live))
	ds := r.DispatchStats()
	ch <- prometheus.MustNewConstMetric(descChains, prometheus.CounterValue, float64(ds.Dispatched))
	ch <- prometheus.MustNewConstMetric(descChainsDropped, prometheus.CounterValue, float64(ds.Dropped))
	ch <- prometheus.MustNewConstMetric(descHandlerErrors, prometheus.CounterValue, float64(ds.HandlerErrors))
}

// loopbackOnly reports whether addr (host:port) binds only loopback interfaces: "localhost" or
// a loopback IP. An empty host, 0.0.0.0 or any other address is reachable from the network.
func loopbackOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
