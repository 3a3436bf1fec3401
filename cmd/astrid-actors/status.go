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

// statusPrinter prints one line per change of a capsule's status:
//
//	capsule ping    ready       instance 1f3a9c2e…  restarts 0
//	capsule crashy  crashed     instance 1f3a9c2e…  restarts 0  reason: wasm error: unreachable
//
// It follows the runtime's lifecycle events (crashed, failed, health failed, and, to notice
// the new instance at once, restarted) and polls Runtime.Capsules for the other transitions
// (starting, running, ready), which have no events.
type statusPrinter struct {
	out *lineWriter

	mu    sync.Mutex
	last  map[string]statusKey
	width int
}

type statusKey struct {
	state    actors.State
	instance uuid.UUID
	restarts int
}

func newStatusPrinter(out *lineWriter) *statusPrinter {
	return &statusPrinter{out: out, last: map[string]statusKey{}, width: 6}
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
				return
			case ev, ok := <-events:
				if !ok {
					return
				}
				p.event(ev)
			case <-tick.C:
			}
			p.snapshot(r.Capsules())
		}
	})
	return func() { cancel(); wg.Wait() }, nil
}

func (p *statusPrinter) widen(id string) {
	p.width = max(p.width, len(id))
}

// snapshot prints the capsules whose state, instance or restart count changed.
func (p *statusPrinter) snapshot(sts []actors.Status) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, st := range sts {
		k := statusKey{state: st.State, instance: st.InstanceID, restarts: st.Restarts}
		if old, ok := p.last[st.ID]; ok && old == k {
			continue
		}
		p.last[st.ID] = k
		p.widen(st.ID)
		line := fmt.Sprintf("capsule %-*s  %-10s  instance %s  restarts %d", p.width, st.ID, st.State, shortID(st.InstanceID), st.Restarts)
		if st.State == actors.StateFailed && st.LastError != "" {
			line += "  reason: " + oneLine(st.LastError)
		}
		p.out.printf("%s", line)
	}
}

// event prints a lifecycle event that is not a plain state change.
func (p *statusPrinter) event(ev actors.Event) {
	var what string
	switch ev.Topic {
	case actors.TopicCrashed:
		what = "crashed"
	case actors.TopicHealthFailed:
		what = "unhealthy"
	default:
		return // failed and restarted show up as state changes; loaded is reported by run
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.widen(ev.CapsuleID)
	instance := ev.InstanceID
	if id, err := uuid.Parse(instance); err == nil {
		instance = shortID(id)
	}
	p.out.printf("capsule %-*s  %-10s  instance %s  restarts %d  reason: %s", p.width, ev.CapsuleID, what, instance, ev.RestartCount, oneLine(ev.Reason))
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
