package actors

import (
	"github.com/google/uuid"

	"github.com/astrid-actors/astrid-actors/hostfuncs"
	"github.com/astrid-actors/astrid-actors/internal/lifecycle"
	"github.com/astrid-actors/astrid-actors/supervision"
)

// handle is a Capsule as its capsule actor (capsuleactor.Handle) and its supervisor
// (supervisor.Child) see it: what they report goes through Capsule.record, the one writer of
// the capsule's status, and the events they ask for are published by the runtime.
type handle struct{ c *Capsule }

// ID implements supervisor.Child.
func (h handle) ID() string { return h.c.id }

// Done implements capsuleactor.Handle.
func (h handle) Done() <-chan struct{} { return h.c.done }

// Record implements capsuleactor.Handle and supervisor.Child.
func (h handle) Record(l lifecycle.Change) uuid.UUID { return h.c.record(l) }

// Shared implements capsuleactor.Handle.
func (h handle) Shared(limits hostfuncs.Limits) *hostfuncs.Shared { return h.c.sharedHost(limits) }

// Attach implements capsuleactor.Handle.
func (h handle) Attach(host *hostfuncs.Instance) { h.c.attach(host) }

// Detach implements capsuleactor.Handle.
func (h handle) Detach(host *hostfuncs.Instance) { h.c.detach(host) }

// Restarted implements capsuleactor.Handle: TopicRestarted.
func (h handle) Restarted(instance, previous uuid.UUID) {
	st := h.c.Status()
	h.c.rt.publishEvent(TopicRestarted, event{CapsuleID: h.c.id, InstanceID: instance.String(),
		PreviousInstanceID: previous.String(), RestartCount: st.Restarts})
}

// HealthFailed implements capsuleactor.Handle: TopicHealthFailed.
func (h handle) HealthFailed(instance uuid.UUID, reason string) {
	h.c.rt.publishEvent(TopicHealthFailed, event{CapsuleID: h.c.id, InstanceID: instance.String(), Reason: reason,
		RestartCount: h.c.Status().Restarts})
}

// Stopped implements capsuleactor.Handle.
func (h handle) Stopped() {
	h.c.rt.budget.release(h.c)
	h.c.record(lifecycle.Change{Kind: lifecycle.ActorStopped})
	close(h.c.done)
}

// Exited implements supervisor.Child: TopicCrashed or TopicExited, with the capsule's totals
// (the instance released its subscriptions before it reported its end, so they include what
// it left queued, as discarded).
func (h handle) Exited(exit *lifecycle.Exit, restarts int) {
	topic := TopicExited
	if exit.Kind == supervision.Crashed {
		topic = TopicCrashed
	}
	discarded, totals := exit.Discarded, h.c.Status().Traffic
	h.c.rt.publishEvent(topic, event{CapsuleID: h.c.id, InstanceID: exit.InstanceID.String(),
		Reason: exit.Reason, RestartCount: restarts, Discarded: &discarded, Totals: &totals})
}

// Failed implements supervisor.Child: TopicFailed.
func (h handle) Failed(reason string) {
	st := h.c.Status()
	h.c.rt.publishEvent(TopicFailed, event{CapsuleID: h.c.id, InstanceID: st.InstanceID.String(),
		Reason: reason, RestartCount: st.Restarts})
}
