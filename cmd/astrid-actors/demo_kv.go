package main

import (
	"context"
	"fmt"
	"time"

	"github.com/astrid-actors/astrid-actors/actors"
	"github.com/astrid-actors/astrid-actors/bus"
)

// durableCounter is the demo's durable-state step: the counter capsule keeps its count in
// astrid:kv, so the instance that replaces it after a crash continues the count.
func (d *demo) durableCounter(ctx context.Context) error {
	fmt.Fprintf(d.out, "\n3. Durable state: counter keeps its count in astrid:kv (kv-set returns once the value is on\n"+
		"   disk). The host ticks it twice, makes it crash, and ticks it again:\n\n")
	ctx, cancel := context.WithTimeout(ctx, demoStepTimeout)
	defer cancel()
	for _, want := range []string{`{"n":1}`, `{"n":2}`} {
		if err := d.tick(ctx, want); err != nil {
			return err
		}
	}
	if _, err := d.r.Publish(ctx, "demo.tick", []byte(`"crash"`), bus.System()); err != nil {
		return fmt.Errorf("demo: publish demo.tick: %w", err)
	}
	if err := d.awaitRestart(ctx, "counter"); err != nil {
		return err
	}
	if err := d.tick(ctx, `{"n":3}`); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "\n   The new instance started with empty memory and counted on from 2: the count lives in the\n"+
		"   capsule's namespace default:capsule:counter, which outlives instances and host crashes.\n")
	return nil
}

// tick publishes demo.tick and prints the messages up to counter's demo.count, which must be
// want.
func (d *demo) tick(ctx context.Context, want string) error {
	if _, err := d.r.Publish(ctx, "demo.tick", []byte(`{}`), bus.System()); err != nil {
		return fmt.Errorf("demo: publish demo.tick: %w", err)
	}
	for {
		m, err := d.next(ctx)
		if err != nil {
			return fmt.Errorf("demo: no demo.count within %v: %w", demoStepTimeout, err)
		}
		if m.Topic == "demo.tick" && string(m.Payload) != "{}" {
			continue // the crash tick: its effect is shown by awaitRestart
		}
		d.printMessage(m)
		if m.Topic == "demo.count" {
			if string(m.Payload) != want {
				return fmt.Errorf("demo: counter said %s, want %s", m.Payload, want)
			}
			return nil
		}
	}
}

// awaitRestart prints id's crash and restart and waits until the new instance is ready.
func (d *demo) awaitRestart(ctx context.Context, id string) error {
	var restarted actors.Event
	for restarted.Topic == "" {
		var ev actors.Event
		select {
		case ev = <-d.events:
		case <-ctx.Done():
			return fmt.Errorf("demo: %s was not restarted within %v", id, demoStepTimeout)
		}
		if ev.CapsuleID != id {
			continue
		}
		switch ev.Topic {
		case actors.TopicCrashed:
			fmt.Fprintf(d.out, "   %-10s %s instance %s  %s\n", "crashed", id, short(ev.InstanceID), ev.Reason)
		case actors.TopicRestarted:
			restarted = ev
			fmt.Fprintf(d.out, "   %-10s %s instance %s  restart %d\n", "restarted", id, short(ev.InstanceID), ev.RestartCount)
		case actors.TopicFailed:
			return fmt.Errorf("demo: %s failed instead of restarting: %s", id, ev.Reason)
		}
	}
	for {
		if c := d.r.Capsule(id); c != nil {
			if st := c.Status(); st.State == actors.StateReady && st.InstanceID.String() == restarted.InstanceID {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("demo: the new %s instance was not ready within %v", id, demoStepTimeout)
		case <-time.After(2 * time.Millisecond):
		}
	}
}
