package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/astrid-actors/astrid-actors/actors"
)

// statusPrinter prints one line per change of a capsule's status, in the order it happened
// for that capsule:
//
//	capsule ping    ready       instance 1f3a9c2e…  restarts 0
//	capsule crashy  crashed     instance 1f3a9c2e…  restarts 0  reason: wasm error: unreachable
//	capsule crashy  restarted   instance 8d01b7a4…  restarts 1
//	capsule crashy  ready       instance 8d01b7a4…  restarts 1
//
// Crashes, normal exits, restarts, failures and watchdog stops come from the runtime's
// lifecycle events, which the bus delivers in the order they were published. Readiness has
// no event, so it is polled from Runtime.Capsules; a polled state is printed only
// once the events before it have been printed: a capsule's new instance is shown ready only
// after the restarted event that created it (Status.Restarts equals the restart_count of the
// last restarted event printed), never before its crash.
type statusPrinter struct {
	out *lineWriter

	mu    sync.Mutex
	caps  map[string]*capsuleLines
	width int
}

// capsuleLines is what was printed for one capsule.
type capsuleLines struct {
	// restarts is the restart_count of the last restarted event printed.
	restarts int
	// polled is the last polled state printed.
	polled statusKey
	// failed is set once its failed event was printed: no polled line follows it.
	failed bool
	// running is the instance last polled in state running (printed at its second poll).
	running uuid.UUID
}

type statusKey struct {
	state    actors.State
	instance uuid.UUID
}

func newStatusPrinter(out *lineWriter) *statusPrinter {
	return &statusPrinter{out: out, caps: map[string]*capsuleLines{}, width: 6}
}

// pollInterval is how often the status printer polls the capsules between events.
const pollInterval = 50 * time.Millisecond

// follow prints changes until ctx ends; call the returned function to stop and wait.
func (p *statusPrinter) follow(ctx context.Context, r *actors.Runtime) (stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	events, err := r.Events(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("follow lifecycle events: %w", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(pollInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				// The events published before the stop are still printed: the channel is
				// closed once ctx has ended.
				for ev := range events {
					p.event(ev)
				}
				p.snapshot(r.Capsules())
				return
			case ev, ok := <-events:
				if !ok {
					return
				}
				p.event(ev)
				// Print every event already queued before polling again.
				for drained := false; !drained; {
					select {
					case ev, ok := <-events:
						if !ok {
							return
						}
						p.event(ev)
					default:
						drained = true
					}
				}
			case <-tick.C:
			}
			p.snapshot(r.Capsules())
		}
	})
	return func() { cancel(); wg.Wait() }, nil
}

func (p *statusPrinter) capsule(id string) *capsuleLines {
	c := p.caps[id]
	if c == nil {
		c = &capsuleLines{polled: statusKey{state: actors.StateStarting}}
		p.caps[id] = c
	}
	p.width = max(p.width, len(id))
	return c
}

// polledState reports the states the printer reports from polling; the others are either
// transient (starting, restarting: the events say more) or reported by an event (exited,
// failed).
func polledState(s actors.State) bool {
	switch s {
	case actors.StateRunning, actors.StateReady, actors.StateStopped:
		return true
	}
	return false
}

// snapshot prints the polled capsules whose state or instance changed, in the order given
// (Runtime.Capsules lists them in start order).
func (p *statusPrinter) snapshot(sts []actors.Status) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, st := range sts {
		c := p.capsule(st.ID)
		k := statusKey{state: st.State, instance: st.InstanceID}
		if c.failed || c.polled == k || !polledState(st.State) || st.Restarts != c.restarts {
			continue
		}
		// A run loop is running before it signals ready; print running only when it lasts
		// (it is still running at the next poll).
		if st.State == actors.StateRunning && c.running != st.InstanceID {
			c.running = st.InstanceID
			continue
		}
		c.polled = k
		p.line(st.ID, st.State.String(), st.InstanceID.String(), st.Restarts, "")
	}
}

// line writes one status line.
func (p *statusPrinter) line(id, what, instance string, restarts int, reason string) {
	short := instance
	if u, err := uuid.Parse(instance); err == nil {
		short = shortID(u)
	}
	text := fmt.Sprintf("capsule %-*s  %-10s  instance %s  restarts %d", p.width, id, what, short, restarts)
	fields := []field{{"capsule", id}, {"status", what}, {"instance_id", instance}, {"restarts", restarts}}
	if reason != "" {
		text += "  reason: " + oneLine(reason)
		fields = append(fields, field{"reason", reason})
	}
	level := "info"
	switch what {
	case "crashed", "unhealthy":
		level = "warn"
	case "failed":
		level = "error"
	}
	p.out.write(level, text, "capsule "+what, fields...)
}

// event prints a lifecycle event of a capsule.
func (p *statusPrinter) event(ev actors.Event) {
	var what string
	switch ev.Topic {
	case actors.TopicCrashed:
		what = "crashed"
	case actors.TopicExited:
		what = "exited"
	case actors.TopicRestarted:
		what = "restarted"
	case actors.TopicFailed:
		what = "failed"
	case actors.TopicHealthFailed:
		what = "unhealthy"
	default:
		return // capsules_loaded is reported by run
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.capsule(ev.CapsuleID)
	switch ev.Topic {
	case actors.TopicRestarted:
		c.restarts = ev.RestartCount
		if id, err := uuid.Parse(ev.InstanceID); err == nil {
			c.polled = statusKey{state: actors.StateStarting, instance: id}
		}
	case actors.TopicFailed:
		c.failed = true
	}
	p.line(ev.CapsuleID, what, ev.InstanceID, ev.RestartCount, ev.Reason)
}

// writeStatusTable writes the capsules as an aligned table.
func writeStatusTable(w io.Writer, sts []actors.Status, indent string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%sCAPSULE\tSTATE\tINSTANCE\tRESTARTS\tPUBLISHED\tDELIVERED\tDROPPED\tLAST ERROR\n", indent)
	for _, st := range sts {
		lastErr := oneLine(st.LastError)
		if lastErr == "" {
			lastErr = "-"
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", indent, st.ID, st.State, shortID(st.InstanceID),
			st.Restarts, st.Published, st.Delivered, st.Dropped, lastErr)
	}
	return tw.Flush()
}

// Load progress: a load that takes longer than loadNoteAfter is reported then, and every
// loadNoteEvery after, with the capsules ready so far, so that compiling large modules on a
// cold cache (seconds each for a Go guest) is not a silent wait.
var (
	loadNoteAfter = 2 * time.Second
	loadNoteEvery = 5 * time.Second
)

// loadProgress prints progress notes until the returned function is called.
func loadProgress(out *lineWriter, r *actors.Runtime, cacheDir string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	wg.Go(func() {
		t := time.NewTimer(loadNoteAfter)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			cache := "no compilation cache (--cache-dir \"\")"
			if cacheDir != "" {
				cache = "compiled code is cached in " + cacheDir + " for the next run"
			}
			out.notef("loading for %v: %d capsule(s) started so far; compiling a module takes seconds the first time (%s)",
				time.Since(start).Round(time.Second), len(r.Capsules()), cache)
			t.Reset(loadNoteEvery)
		}
	})
	return func() { close(done); wg.Wait() }
}
