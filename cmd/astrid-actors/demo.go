package main

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/astrid-actors/astrid-actors/actors"
	"github.com/astrid-actors/astrid-actors/bus"
)

// demoFiles are the demo's capsules: demo/<name>/{Capsule.toml,<name>.wat,<name>.wasm}, and
// under demokv/ the ones that keep state in astrid:kv (apart, so the other commands' tests
// can load demo/ without a data directory). The .wasm files are compiled from the .wat
// sources with wat2wasm (TestDemoWasmUpToDate and TestDemoKVWasmUpToDate check that they
// match).
//
//go:embed demo demokv
var demoFiles embed.FS

// demoRoots are the directories of demoFiles.
var demoRoots = []string{"demo", "demokv"}

// demoStepTimeout bounds every step of the demo.
const demoStepTimeout = 10 * time.Second

type demoOptions struct {
	log   logFlags
	cache cacheFlag
}

func newDemoCommand() *cobra.Command {
	o := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the capsules bundled in this binary: request/reply, then a crash and its restart",
		Long: `Run four small capsules embedded in this binary (WAT sources included):

  pong    answers every demo.ping on demo.pong with the same payload
  ping    on demo.start, sends 3 requests on demo.ping one at a time, waits for each
          reply, then reports {"pings":N} on demo.done
  crashy  traps on demo.crash; its supervisor restarts it after a 10ms backoff
  counter counts demo.tick messages in astrid:kv (durable state) and reports on
          demo.count; it traps on the tick "crash" and its new instance counts on

The demo extracts them into a temporary directory, loads them, prints the request/reply
exchange, makes crashy crash and shows its restart, shows counter counting on across its own
crash (its state is in astrid:kv, in a temporary data directory), prints the final status
and exits 0. It exits 1 if a step does not happen within 10 s.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	o.log.register(cmd, "error")
	o.cache.register(cmd)
	return cmd
}

// extractDemo writes the embedded capsules under dir.
func extractDemo(dir string) error {
	for _, root := range demoRoots {
		if err := extractDemoRoot(dir, root); err != nil {
			return err
		}
	}
	return nil
}

func extractDemoRoot(dir, root string) error {
	return fs.WalkDir(demoFiles, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.FromSlash(p))
		target := filepath.Join(dir, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := demoFiles.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}

// demoNames lists the embedded capsules.
func demoNames() []string {
	var out []string
	for _, root := range demoRoots {
		entries, _ := demoFiles.ReadDir(root)
		for _, e := range entries {
			if e.IsDir() {
				out = append(out, e.Name())
			}
		}
	}
	slices.Sort(out)
	return out
}

func (o *demoOptions) run(cmd *cobra.Command) (err error) {
	if err := o.log.validate(); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	stderr := &lineWriter{w: cmd.ErrOrStderr(), json: o.log.format == "json"}
	log, err := o.log.logger(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	dir, err := os.MkdirTemp("", "astrid-actors-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := extractDemo(dir); err != nil {
		return fmt.Errorf("demo: extract the capsules: %w", err)
	}

	defer os.RemoveAll(dir + "-data")
	r, err := newRuntime(ctx, actors.Options{Logger: log, DataDir: dir + "-data"}, &o.cache, stderr)
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if !closed {
			_ = r.Close(context.Background())
		}
	}()
	events, err := r.Events(ctx)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	sub, err := r.Subscribe(ctx, "demo.*")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	// The bus numbers every message; the first is the runtime's capsules_loaded event.
	loaded, err := r.Subscribe(ctx, actors.TopicCapsulesLoaded)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	d := &demo{out: out, r: r, sub: sub, events: events, names: map[uuid.UUID]string{}}

	fmt.Fprintf(out, "astrid-actors demo: capsules %v, embedded in this binary, extracted to %s\n\n", demoNames(), dir)
	rep, err := r.Load(ctx, dir)
	if err != nil {
		return fmt.Errorf("demo: load: %w", err)
	}
	if len(rep.Errors) > 0 {
		return fmt.Errorf("demo: load: %w", errors.Join(rep.Errors...))
	}
	if len(rep.NotReady) > 0 {
		return fmt.Errorf("demo: capsules not ready: %v", rep.NotReady)
	}
	fmt.Fprintf(out, "Loaded and ready (one actor and one wasm instance each):\n\n")
	if err := writeStatusTable(out, r.Capsules(), "   "); err != nil {
		return err
	}
	lctx, lcancel := context.WithTimeout(ctx, demoStepTimeout)
	batch, err := loaded.Recv(lctx, demoStepTimeout)
	lcancel()
	if err != nil || len(batch.Messages) == 0 {
		return fmt.Errorf("demo: no %s event: %v", actors.TopicCapsulesLoaded, err)
	}
	m := batch.Messages[0]
	fmt.Fprintf(out, "\nThe runtime announced it on the bus (a lifecycle event, see docs/events.md); the bus numbers\n"+
		"every message, so the host's first publish below is #%d:\n\n   #%-4d %s %s\n", m.Seq+1, m.Seq, m.Topic, m.Payload)

	for _, step := range []func(context.Context) error{d.requestReply, d.crashRestart, d.durableCounter} {
		if err := step(ctx); err != nil {
			if ctx.Err() != nil {
				return errors.New("demo: interrupted")
			}
			return err
		}
	}

	fmt.Fprintf(out, "\n4. Final status (crashy and counter: 1 restart each, a new instance; the old instances' traffic is kept):\n\n")
	if err := writeStatusTable(out, r.Capsules(), "   "); err != nil {
		return err
	}
	closed = true
	if err := r.Close(context.Background()); err != nil {
		return fmt.Errorf("demo: close runtime: %w", err)
	}
	fmt.Fprintf(out, "\nRuntime closed: capsules stopped in reverse load order, bus and engine shut down.\n")
	return nil
}

// demo holds the state of one demo run.
type demo struct {
	out    io.Writer
	r      *actors.Runtime
	sub    *bus.Subscription
	queued []*bus.Message
	events <-chan actors.Event
	names  map[uuid.UUID]string // instance → capsule id
}

// next returns the next message on demo.*.
func (d *demo) next(ctx context.Context) (*bus.Message, error) {
	for len(d.queued) == 0 {
		b, err := d.sub.Recv(ctx, time.Second)
		if err != nil {
			return nil, err
		}
		d.queued = b.Messages
		// A batch holds one publisher's messages (one mailbox flow per principal and
		// publishing instance): take every flow queued now and print them in publish order.
		for more := d.sub.Poll(); len(more.Messages) > 0; more = d.sub.Poll() {
			d.queued = append(d.queued, more.Messages...)
		}
		slices.SortFunc(d.queued, func(a, b *bus.Message) int { return cmp.Compare(a.Seq, b.Seq) })
	}
	m := d.queued[0]
	d.queued = d.queued[1:]
	return m, nil
}

// source names the publisher of m.
func (d *demo) source(m *bus.Message) string {
	if m.Source == uuid.Nil {
		return "host"
	}
	if name, ok := d.names[m.Source]; ok {
		return name
	}
	for _, st := range d.r.Capsules() {
		d.names[st.InstanceID] = st.ID
	}
	if name, ok := d.names[m.Source]; ok {
		return name
	}
	return shortID(m.Source)
}

func (d *demo) printMessage(m *bus.Message) {
	fmt.Fprintf(d.out, "   %-5s %-6s %-11s %-14s %s\n", fmt.Sprintf("#%d", m.Seq), d.source(m), m.Topic, m.Payload, m.Principal)
}

// requestReply publishes demo.start and prints the exchange until demo.done.
func (d *demo) requestReply(ctx context.Context) error {
	fmt.Fprintf(d.out, "\n1. Request/reply: the host publishes demo.start; ping sends 3 requests on demo.ping, one at\n"+
		"   a time, and waits (recv) for pong's reply on demo.pong before the next:\n\n")
	fmt.Fprintf(d.out, "   %-5s %-6s %-11s %-14s %s\n", "SEQ", "FROM", "TOPIC", "PAYLOAD", "PRINCIPAL")
	ctx, cancel := context.WithTimeout(ctx, demoStepTimeout)
	defer cancel()
	if _, err := d.r.Publish(ctx, "demo.start", []byte(`{}`), bus.System()); err != nil {
		return fmt.Errorf("demo: publish demo.start: %w", err)
	}
	pongs := 0
	for {
		m, err := d.next(ctx)
		if err != nil {
			return fmt.Errorf("demo: no demo.done within %v (%d replies so far): %w", demoStepTimeout, pongs, err)
		}
		d.printMessage(m)
		switch m.Topic {
		case "demo.pong":
			pongs++
		case "demo.done":
			if string(m.Payload) != `{"pings":3}` || pongs != 3 {
				return fmt.Errorf("demo: expected 3 replies, got %d (demo.done %s)", pongs, m.Payload)
			}
			fmt.Fprintf(d.out, "\n   ping got its 3 replies. Requests from the host run as the system principal; the\n"+
				"   capsules' messages carry verified(default), the owner the runtime gave them.\n")
			return nil
		}
	}
}

// crashRestart publishes demo.crash and follows crashy's crash, restart and readiness.
func (d *demo) crashRestart(ctx context.Context) error {
	fmt.Fprintf(d.out, "\n2. Crash and restart: the host publishes demo.crash; crashy traps on it (wasm unreachable),\n"+
		"   its supervisor restarts it with a fresh instance after a 10ms backoff:\n\n")
	ctx, cancel := context.WithTimeout(ctx, demoStepTimeout)
	defer cancel()
	if _, err := d.r.Publish(ctx, "demo.crash", []byte(`{}`), bus.System()); err != nil {
		return fmt.Errorf("demo: publish demo.crash: %w", err)
	}
	for {
		m, err := d.next(ctx)
		if err != nil {
			return fmt.Errorf("demo: demo.crash not seen within %v: %w", demoStepTimeout, err)
		}
		d.printMessage(m)
		if m.Topic == "demo.crash" {
			break
		}
	}
	var crashed, restarted actors.Event
	for restarted.Topic == "" {
		var ev actors.Event
		select {
		case ev = <-d.events:
		case <-ctx.Done():
			return fmt.Errorf("demo: crashy was not restarted within %v", demoStepTimeout)
		}
		if ev.CapsuleID != "crashy" {
			continue
		}
		switch ev.Topic {
		case actors.TopicCrashed:
			crashed = ev
			fmt.Fprintf(d.out, "   %-10s crashy  instance %s  %s\n", "crashed", short(ev.InstanceID), ev.Reason)
		case actors.TopicRestarted:
			restarted = ev
			fmt.Fprintf(d.out, "   %-10s crashy  instance %s  restart %d\n", "restarted", short(ev.InstanceID), ev.RestartCount)
		case actors.TopicFailed:
			return fmt.Errorf("demo: crashy failed instead of restarting: %s", ev.Reason)
		}
	}
	for {
		c := d.r.Capsule("crashy")
		if c != nil {
			if st := c.Status(); st.State == actors.StateReady && st.InstanceID.String() == restarted.InstanceID {
				after := time.Since(crashed.Time).Round(time.Millisecond)
				fmt.Fprintf(d.out, "   %-10s crashy  instance %s  %v after the crash, subscribed to demo.crash again\n", "ready", short(st.InstanceID.String()), after)
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("demo: the new crashy instance was not ready within %v", demoStepTimeout)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// short abbreviates a UUID string.
func short(id string) string {
	if u, err := uuid.Parse(id); err == nil {
		return shortID(u)
	}
	return id
}
