package capsuleactor

import (
	"time"

	"github.com/astrid-actors/astrid-actors/internal/engine"
)

// armInit bounds the new instance's instantiation and _initialize (the wasm start function
// included): the watchdog runs from the first moment, so an initializer that spins without a
// yielding host call is stopped like a runaway run loop, and the Config's ReadyTimeout, when
// set, is a hard deadline for both. Either stop is a crash, and the capsule's policy applies.
func (a *capsuleActor) armInit() {
	a.armWatchdog()
	if d := a.cfg.ReadyTimeout; d > 0 {
		id, self, root := a.inst.id, a.self, a.root
		a.inst.initStop = time.AfterFunc(d, func() { root.Send(self, &initDeadline{id: id}) })
	}
}

// initialized ends the init bounds of the current instance: its run loop (or its reactor
// service) starts. The end of initialization counts as a yield, so the run loop gets the
// watchdog's whole limit to make its first yielding call. A reactor has no watchdog after its
// initialization.
func (a *capsuleActor) initialized() {
	inst := a.inst
	inst.initDone = true
	inst.host.BeginYield()
	inst.host.EndYield()
	if inst.initStop != nil {
		inst.initStop.Stop()
	}
	if a.cfg.Module.Entry() == engine.EntryNone && inst.watchdog != nil {
		inst.watchdog.Stop()
		inst.watchdog = nil
	}
}
