package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/astrid-actors/astrid-actors/bus"
)

// Publish publishes payload (JSON text) on topic from the host, attributed to principal; the
// zero Principal is the system. The payload is copied. The topic must pass
// topics.Validate(topic, topics.HostLimits).
func (r *Runtime) Publish(ctx context.Context, topic string, payload []byte, principal bus.Principal) (bus.PublishResult, error) {
	if err := ctx.Err(); err != nil {
		return bus.PublishResult{}, err
	}
	return r.bus.Publish(topic, payload, uuid.Nil, principal)
}

// Subscribe subscribes the host to a route pattern (topics.MatchRoute): a bus.Subscription
// with Recv and Poll. Unlike a guest, the
// host may use middle wildcards ("a.*.c") and up to 20 segments.
func (r *Runtime) Subscribe(ctx context.Context, pattern string) (*bus.Subscription, error) {
	return r.bus.Subscribe(ctx, pattern, bus.SubscribeOptions{})
}

// Event is a lifecycle event of the runtime (see the Topic* constants).
type Event struct {
	Topic        string
	Time         time.Time
	CapsuleID    string
	InstanceID   string
	Reason       string
	RestartCount int
	// Discarded is, for TopicCrashed and TopicExited, the number of messages that were queued
	// for the ended instance.
	Discarded uint64
	// Totals is, for TopicCrashed and TopicExited, the capsule's Traffic over all its
	// instances when the instance ended.
	Totals Traffic
	// Capsules and NotReady are set for TopicCapsulesLoaded.
	Capsules, NotReady []string
}

// Events streams the runtime's lifecycle events (capsule crashed, exited, restarted, failed,
// health failed, capsules loaded) from now on. The channel is closed when ctx ends or the runtime
// closes. Events queue in a bus mailbox while the receiver is slow; if it overflows, the
// oldest are dropped and counted there, never silently.
func (r *Runtime) Events(ctx context.Context) (<-chan Event, error) {
	sub, err := r.bus.Subscribe(ctx, "astrid.v1.*", bus.SubscribeOptions{})
	if err != nil {
		return nil, err
	}
	out := make(chan Event, 64)
	go func() {
		defer close(out)
		defer sub.Close(context.Background())
		for {
			if _, err := sub.Mailbox().Wait(ctx, time.Hour); err != nil {
				return
			}
			batch := sub.Mailbox().Drain(nil, 1<<20, func(*bus.Message) bool { return true })
			for _, m := range batch.Messages {
				if m.Principal != bus.System() || m.Source != uuid.Nil {
					continue // not published by the runtime
				}
				ev, ok := decodeEvent(m)
				if !ok {
					continue
				}
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

func decodeEvent(m *bus.Message) (Event, bool) {
	switch m.Topic {
	case TopicCrashed, TopicExited, TopicRestarted, TopicFailed, TopicHealthFailed:
		var e event
		if json.Unmarshal(m.Payload, &e) != nil {
			return Event{}, false
		}
		ev := Event{Topic: m.Topic, Time: m.Time, CapsuleID: e.CapsuleID, InstanceID: e.InstanceID,
			Reason: e.Reason, RestartCount: e.RestartCount}
		if e.Discarded != nil {
			ev.Discarded = *e.Discarded
		}
		if e.Totals != nil {
			ev.Totals = *e.Totals
		}
		return ev, true
	case TopicCapsulesLoaded:
		var e loadedEvent
		if json.Unmarshal(m.Payload, &e) != nil {
			return Event{}, false
		}
		return Event{Topic: m.Topic, Time: m.Time, Capsules: e.Capsules, NotReady: e.NotReady}, true
	}
	return Event{}, false
}

// String renders an event in one line.
func (e Event) String() string {
	switch e.Topic {
	case TopicCapsulesLoaded:
		return fmt.Sprintf("%s capsules=%v not_ready=%v", e.Topic, e.Capsules, e.NotReady)
	}
	return fmt.Sprintf("%s capsule=%s instance=%s restarts=%d %s", e.Topic, e.CapsuleID, e.InstanceID, e.RestartCount, e.Reason)
}
