package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/actors"
	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/topics"
)

type runOptions struct {
	log       logFlags
	cache     cacheFlag
	tails     []string
	publishes []string
	exitOn    []string
	exitAfter time.Duration
	metrics   string
	dataDir   string
	quiet     bool
	cluster   clusterFlags
	limits    limitFlags

	parsed []publishSpec
}

// publishSpec is one --publish TOPIC=JSON.
type publishSpec struct {
	topic   string
	payload []byte
}

func newRunCommand() *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run [flags] DIR...",
		Short: "Load the capsules found under DIR... and run them until interrupted",
		Long: `Load every capsule (a directory with a Capsule.toml) found under the given directories, in
dependency order, and run them until Ctrl-C or SIGTERM (a second signal forces the exit).

A status line is printed on stderr whenever a capsule starts, becomes ready, crashes, restarts
or fails. Manifests that cannot be loaded are reported and skipped; the command fails only
when no capsule at all could be started.

--tail prints every message whose topic matches the pattern as one JSON line on stdout:
  {"seq":7,"topic":"demo.pong","payload":{"n":1},"principal":{"kind":"verified","id":"default"},
   "source_id":"<publisher instance uuid>","time":"2025-01-02T03:04:05.123456789Z"}
Patterns use the route matcher: "a.*" matches a.b and a.b.c, "a.*.c" matches a.x.c.

--cluster makes this process one node of a cluster (docs/cluster.md): every node embeds a NATS
server, routes connect it to the --seeds, and a message published on one node reaches the
matching subscriptions of every node. /cluster (with --metrics) lists the members, where each
capsule runs and the link counters.

Exit codes: 0 after a signal, --exit-on or --exit-after; 1 when the runtime fails or no
capsule could be started; 2 for a bad command line.`,
		Example: `  astrid-actors run ./capsules
  astrid-actors run --tail 'demo.*' --publish 'demo.start={}' --exit-on demo.done ./capsules
  astrid-actors run --metrics 127.0.0.1:9090 --log-format json ./capsules
  astrid-actors run --cluster demo --node n2 --cluster-listen 127.0.0.1:6223 --seeds 127.0.0.1:6222 ./capsules`,
		Args: minArgs(1, "at least one capsule directory"),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, args) },
	}
	f := cmd.Flags()
	o.log.register(cmd, "info")
	o.cache.register(cmd)
	f.StringArrayVar(&o.tails, "tail", nil, "print messages matching `PATTERN` as JSON lines on stdout (repeatable)")
	f.StringArrayVar(&o.publishes, "publish", nil, "publish `TOPIC=JSON` as the system principal once the capsules are loaded (repeatable)")
	f.StringArrayVar(&o.exitOn, "exit-on", nil, "exit 0 after the first message matching `PATTERN` (printed first if tailed; repeatable)")
	f.DurationVar(&o.exitAfter, "exit-after", 0, "exit 0 this long after the capsules are loaded (0: never)")
	f.StringVar(&o.metrics, "metrics", "", "serve Prometheus /metrics and JSON /capsules on `ADDR` (host:port)")
	f.StringVar(&o.dataDir, "data-dir", actors.DefaultDataDir(), "keep the node's durable capsule state (astrid:kv, `DIR`/kv.db) here")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print only warnings and errors on stderr (no status lines)")
	o.cluster.register(cmd)
	o.limits.register(cmd)
	return cmd
}

// validate checks every flag before anything starts (usage errors).
func (o *runOptions) validate() error {
	if err := o.log.validate(); err != nil {
		return err
	}
	for _, p := range o.tails {
		if err := topics.Validate(p, topics.HostLimits); err != nil {
			return usagef("--tail %q: invalid pattern: %v", p, err)
		}
	}
	for _, p := range o.exitOn {
		if err := topics.Validate(p, topics.HostLimits); err != nil {
			return usagef("--exit-on %q: invalid pattern: %v", p, err)
		}
	}
	for _, s := range o.publishes {
		p, err := parsePublish(s)
		if err != nil {
			return err
		}
		o.parsed = append(o.parsed, p)
	}
	if err := o.limits.validate(); err != nil {
		return err
	}
	if o.exitAfter < 0 {
		return usagef("--exit-after %v: must not be negative", o.exitAfter)
	}
	if o.metrics != "" {
		if _, _, err := net.SplitHostPort(o.metrics); err != nil {
			return usagef("--metrics %q: want HOST:PORT: %v", o.metrics, err)
		}
	}
	return nil
}

// parsePublish parses TOPIC=JSON, split at the first '='.
func parsePublish(s string) (publishSpec, error) {
	topic, payload, ok := strings.Cut(s, "=")
	if !ok {
		return publishSpec{}, usagef("--publish %s: want TOPIC=JSON", abbrev(s))
	}
	if err := topics.Validate(topic, topics.HostLimits); err != nil {
		return publishSpec{}, usagef("--publish %s: invalid topic: %v", abbrev(s), err)
	}
	if len(payload) > abi.MaxPayloadBytes {
		return publishSpec{}, usagef("--publish %s: payload is %d bytes, limit %d", abbrev(s), len(payload), abi.MaxPayloadBytes)
	}
	if !json.Valid([]byte(payload)) {
		return publishSpec{}, usagef("--publish %s: payload is not valid JSON", abbrev(s))
	}
	return publishSpec{topic: topic, payload: []byte(payload)}, nil
}

// abbrev quotes a command-line value for an error message, shortened if long.
func abbrev(s string) string {
	const limit = 80
	if len(s) > limit {
		return fmt.Sprintf("%q…", s[:limit])
	}
	return fmt.Sprintf("%q", s)
}

// Why a run ends.
var (
	errSignal    = errors.New("signal")
	errExitOn    = errors.New("exit-on")
	errExitAfter = errors.New("exit-after")
)

func (o *runOptions) run(cmd *cobra.Command, dirs []string) (err error) {
	if err := o.validate(); err != nil {
		return err
	}
	clusterOpts, err := o.cluster.options(cmd)
	if err != nil {
		return err
	}
	if err := checkDirs(dirs); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	stderr := &lineWriter{w: cmd.ErrOrStderr(), json: o.log.format == "json", quiet: o.quiet}
	log, err := o.log.logger(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	log = withoutReported(log, o.log.level) // run prints the load report and the lifecycle events once
	defer func() { _ = log.Sync() }()

	// ctx ends the run: first signal, --exit-on, --exit-after.
	ctx, stop := context.WithCancelCause(context.Background())
	defer stop(nil)
	done := make(chan struct{})
	defer close(done)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case s := <-sigs:
			stderr.notef("%s: stopping the capsules (signal again to exit at once)", signalName(s))
			stop(errSignal)
		case <-done:
			return
		}
		select {
		case s := <-sigs:
			stderr.notef("%s again: exiting without waiting for the capsules", signalName(s))
			os.Exit(exitFailure)
		case <-done:
		}
	}()

	var ln net.Listener
	var m *metrics
	opts := actors.Options{Logger: log, DataDir: o.dataDir, Cluster: clusterOpts}
	o.limits.apply(&opts)
	if o.metrics != "" {
		ln, err = net.Listen("tcp", o.metrics)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		if !loopbackOnly(o.metrics) {
			stderr.notef("warning: --metrics %s listens beyond loopback: anyone who can reach it reads the capsule list and counters (use 127.0.0.1:PORT to keep it local)", o.metrics)
		}
		m = newMetrics()
		opts.ObserveHostCall = m.observe
	}
	r, err := newRuntime(context.Background(), opts, &o.cache, stderr)
	if err != nil {
		if ln != nil {
			_ = ln.Close()
		}
		return err
	}
	closed := false
	closeRuntime := func() error {
		if closed {
			return nil
		}
		closed = true
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return r.Close(cctx)
	}
	defer func() {
		if cerr := closeRuntime(); cerr != nil && err == nil {
			err = fmt.Errorf("close runtime: %w", cerr)
		}
	}()
	if m != nil {
		m.attach(r)
		m.serve(ln, stderr)
		defer m.shutdown()
		stderr.notef("metrics on http://%s/metrics and http://%s/capsules", ln.Addr(), ln.Addr())
	}
	if n := r.Cluster(); n != nil {
		stderr.notef("cluster %s: node %s, routes on %s", n.ClusterName(), n.Name(), n.Addr())
		if len(clusterOpts.Seeds) > 0 {
			wctx, cancel := context.WithTimeout(ctx, clusterJoinTimeout)
			if n.WaitJoined(wctx) != nil && ctx.Err() == nil {
				stderr.notef("warning: no other node joined within %v; starting the capsules anyway", clusterJoinTimeout)
			}
			cancel()
		}
	}

	status := newStatusPrinter(stderr)
	stopStatus, err := status.follow(ctx, r)
	if err != nil {
		return err
	}
	defer stopStatus()
	t := &tailer{tails: o.tails, exitOn: o.exitOn, out: cmd.OutOrStdout(), notes: stderr,
		onExit: func(*bus.Message) { stop(errExitOn) }}
	if err := t.start(ctx, r); err != nil {
		return err
	}
	defer func() { stop(nil); t.stop() }()

	stopProgress := loadProgress(stderr, r, o.cache.dir)
	rep, err := r.Load(ctx, dirs...)
	stopProgress()
	status.snapshot(r.Capsules()) // every capsule's ready line before the load summary
	if rep != nil {
		o.report(stderr, rep)
	}
	if err != nil {
		if ctx.Err() != nil {
			return o.finish(ctx, stderr, t, stopStatus, m, closeRuntime)
		}
		return fmt.Errorf("load: %w", err)
	}
	if len(rep.Started) == 0 {
		return fmt.Errorf("no capsule could be started from %s", strings.Join(dirs, ", "))
	}
	for _, p := range o.parsed {
		if _, err := r.Publish(ctx, p.topic, p.payload, bus.System()); err != nil {
			if ctx.Err() != nil {
				break
			}
			return fmt.Errorf("publish %s: %w", p.topic, err)
		}
	}
	if o.exitAfter > 0 {
		timer := time.AfterFunc(o.exitAfter, func() { stop(errExitAfter) })
		defer timer.Stop()
	}
	<-ctx.Done()
	return o.finish(ctx, stderr, t, stopStatus, m, closeRuntime)
}

// finish shuts down in order: stop printing, stop serving metrics, close the runtime.
func (o *runOptions) finish(ctx context.Context, stderr *lineWriter, t *tailer, stopStatus func(), m *metrics, closeRuntime func() error) error {
	t.stop()
	stopStatus()
	if m != nil {
		m.shutdown()
	}
	if err := closeRuntime(); err != nil {
		return fmt.Errorf("close runtime: %w", err)
	}
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errExitAfter):
		stderr.notef("stopped after %v (--exit-after)", o.exitAfter)
	case errors.Is(cause, errExitOn):
		stderr.notef("stopped: a message matched --exit-on")
	default:
		stderr.notef("stopped")
	}
	return nil
}

// report prints what Load did: the capsules not loaded (one line per problem, naming the
// manifest), the warnings (each once, none about a manifest that was not loaded: its error
// says it) and the capsules not ready.
func (o *runOptions) report(stderr *lineWriter, rep *actors.LoadReport) {
	var failed []string
	for _, e := range rep.Errors {
		for _, line := range strings.Split(e.Error(), "\n") {
			stderr.errorf("not loaded: %s", line)
			if path := manifestPath(line); path != "" {
				failed = append(failed, path)
			}
		}
	}
	var seen []string
	for _, w := range rep.Warnings {
		if slices.Contains(seen, w) || slices.Contains(failed, manifestPath(w)) {
			continue // the report may repeat a manifest's warnings
		}
		seen = append(seen, w)
		stderr.notef("warning: %s", oneLine(w))
	}
	if len(rep.Started) > 0 {
		stderr.notef("loaded %d capsule(s): %s", len(rep.Started), strings.Join(rep.Started, ", "))
	}
	if len(rep.NotReady) > 0 {
		stderr.notef("warning: not ready within their ready_timeout (still running): %s", strings.Join(rep.NotReady, ", "))
	}
}

// manifestPath returns the Capsule.toml path a load problem names ("<path>: <problem>" or
// "capsule <name> (<path>): <problem>"), or "".
func manifestPath(problem string) string {
	const name = "Capsule.toml"
	i := strings.Index(problem, name)
	if i < 0 {
		return ""
	}
	start := strings.LastIndexAny(problem[:i], " (") + 1
	return problem[start : i+len(name)]
}

func signalName(s os.Signal) string {
	if s == os.Interrupt {
		return "interrupt"
	}
	if s == syscall.SIGTERM {
		return "SIGTERM"
	}
	return s.String()
}
