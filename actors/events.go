package actors

import (
	"encoding/json"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/astrid-actors/astrid-actors/bus"
)

// Lifecycle events the runtime publishes on the bus, as the system principal.
const (
	// TopicCrashed: an instance crashed. Payload: capsule_id, instance_id, reason,
	// restart_count (restarts so far), discarded (messages queued for the dead instance) and
	// totals, the capsule's Traffic over all its instances (every field always present).
	TopicCrashed = "astrid.v1.capsule.crashed"
	// TopicExited: an instance's run loop returned normally. Payload as for TopicCrashed.
	TopicExited = "astrid.v1.capsule.exited"
	// TopicRestarted: a new instance replaced a dead one. Payload: capsule_id, instance_id,
	// previous_instance_id, restart_count.
	TopicRestarted = "astrid.v1.capsule.restarted"
	// TopicFailed: a capsule exceeded its restart intensity (or its group failed) and stays
	// down. Payload: capsule_id, instance_id, reason, restart_count.
	TopicFailed = "astrid.v1.capsule.failed"
	// TopicHealthFailed: the watchdog stopped a run loop that did not yield. Payload:
	// capsule_id, instance_id, reason.
	TopicHealthFailed = "astrid.v1.health.failed"
	// TopicCapsulesLoaded: every capsule of a Load is ready (or reported as not ready).
	TopicCapsulesLoaded = "astrid.v1.capsules_loaded"
)

// event is the payload of the lifecycle events.
type event struct {
	CapsuleID          string `json:"capsule_id"`
	InstanceID         string `json:"instance_id,omitempty"`
	PreviousInstanceID string `json:"previous_instance_id,omitempty"`
	Reason             string `json:"reason,omitempty"`
	RestartCount       int    `json:"restart_count"`
	// Discarded and Totals are set for crashed and exited events, and then always present.
	Discarded *uint64  `json:"discarded,omitempty"`
	Totals    *Traffic `json:"totals,omitempty"`
}

// publishEvent publishes a lifecycle event; a failure (the bus is closing) is only logged.
func (r *Runtime) publishEvent(topic string, e any) {
	payload, err := json.Marshal(e)
	if err == nil {
		_, err = r.bus.Publish(topic, payload, uuid.Nil, bus.System())
	}
	if err != nil {
		r.log.Debug("lifecycle event not published", zap.String("topic", topic), zap.Error(err))
	}
}
