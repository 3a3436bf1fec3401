package actors

import (
	"cmp"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/astrid-actors/astrid-actors/hostfuncs"
	"github.com/astrid-actors/astrid-actors/kv"
	"github.com/astrid-actors/astrid-actors/manifest"
)

// Caps are the operator's bounds on what a capsule's manifest may ask for in [limits] and
// [supervision]: a manifest cannot raise itself past them. They apply to capsules loaded from
// manifests (Load, LoadManifest, LoadCapsule); a CapsuleSpec given directly to Start is the
// embedder's own and is not capped (the host memory budget still applies to it). Zero fields
// take the defaults.
type Caps struct {
	// MaxMemoryPages is the largest memory_pages a manifest may ask for (default
	// MaxMemoryPages, 1 GiB). A manifest asking for more is refused; a capsule that asks for
	// nothing gets the runtime's default memory limit, lowered to this cap if needed.
	MaxMemoryPages uint32
	// MaxRestarts and RestartWindow bound the restart intensity: whatever its [supervision]
	// says, a capsule is restarted at most MaxRestarts times in any RestartWindow (defaults
	// DefaultCapMaxRestarts within DefaultCapRestartWindow). A policy of n restarts within w
	// allows at most n × ⌈RestartWindow/w⌉ there; when that is too many, max_restarts is lowered
	// to MaxRestarts and within lengthened just enough. Both only make the policy stricter.
	MaxRestarts   int
	RestartWindow time.Duration
	// MinBackoff is the smallest initial restart backoff a manifest may ask for (default 0:
	// the manifest's backoff_initial is kept).
	MinBackoff time.Duration
	// MaxThroughputBytesPerSec is the largest ipc_throughput_bytes_per_sec (default
	// DefaultCapThroughputBytesPerSec); a larger value is lowered to it.
	MaxThroughputBytesPerSec int
	// MaxThroughputMessagesPerSec is the largest ipc_throughput_messages_per_sec (default
	// DefaultCapThroughputMessagesPerSec); a larger value is lowered to it.
	MaxThroughputMessagesPerSec int
	// MaxModuleBytes is the largest component file a manifest may ask to read ([limits]
	// module_bytes; default manifest.MaxModuleBytes, 1 GiB). A manifest asking for more is
	// refused before anything is read; a manifest that asks for nothing is read with the
	// smaller of manifest.DefaultModuleBytes and this cap.
	MaxModuleBytes int64
	// MaxKVBytes is the largest kv_bytes (the quota of each astrid:kv namespace) a manifest
	// may ask for (default DefaultCapKVBytes); a larger value is lowered to it.
	MaxKVBytes int64
}

// Defaults of Caps.
const (
	// DefaultCapMaxRestarts is the default cap of max_restarts.
	DefaultCapMaxRestarts = 100
	// DefaultCapRestartWindow is the default shortest restart window.
	DefaultCapRestartWindow = 60 * time.Second
	// DefaultCapThroughputBytesPerSec is the default cap of the publish budget: 10 times the
	// default budget (100 MiB/s).
	DefaultCapThroughputBytesPerSec = 10 * hostfuncs.DefaultThroughputBytesPerSec
	// DefaultCapThroughputMessagesPerSec is the default cap of the message budget: 10 times
	// the default budget (100 000 messages/s).
	DefaultCapThroughputMessagesPerSec = 10 * hostfuncs.DefaultThroughputMessagesPerSec
	// DefaultCapKVBytes is the default cap of kv_bytes: 16 times the default quota (1 GiB).
	DefaultCapKVBytes = 16 * kv.DefaultQuotaBytes
)

// withDefaults fills the zero fields and checks the others.
func (c Caps) withDefaults() (Caps, error) {
	if c.MaxMemoryPages == 0 {
		c.MaxMemoryPages = MaxMemoryPages
	}
	if c.MaxMemoryPages > MaxMemoryPages {
		return c, fmt.Errorf("caps: MaxMemoryPages %d is over the engine's maximum %d", c.MaxMemoryPages, MaxMemoryPages)
	}
	if c.MaxRestarts <= 0 {
		c.MaxRestarts = DefaultCapMaxRestarts
	}
	if c.RestartWindow <= 0 {
		c.RestartWindow = DefaultCapRestartWindow
	}
	if c.MinBackoff < 0 {
		return c, fmt.Errorf("caps: MinBackoff %v is negative", c.MinBackoff)
	}
	if c.MaxThroughputBytesPerSec <= 0 {
		c.MaxThroughputBytesPerSec = DefaultCapThroughputBytesPerSec
	}
	if c.MaxThroughputMessagesPerSec <= 0 {
		c.MaxThroughputMessagesPerSec = DefaultCapThroughputMessagesPerSec
	}
	if c.MaxModuleBytes <= 0 {
		c.MaxModuleBytes = manifest.MaxModuleBytes
	}
	if c.MaxKVBytes <= 0 {
		c.MaxKVBytes = DefaultCapKVBytes
	}
	return c, nil
}

// Caps returns the runtime's effective caps.
func (r *Runtime) Caps() Caps { return r.caps }

// MemoryBudget returns the host memory budget and what the live capsules reserve of it.
func (r *Runtime) MemoryBudget() MemoryBudget { return r.budget.stats() }

// capModule refuses a manifest whose module_bytes is over the cap, and returns the manifest to
// read the module with (a copy with the cap as its limit when the default is over the cap).
func (r *Runtime) capModule(m *manifest.Manifest) (*manifest.Manifest, error) {
	limit := r.caps.MaxModuleBytes
	switch {
	case m.Limits.ModuleBytes > limit:
		return nil, fmt.Errorf("capsule %s (%s): [limits] module_bytes = %d is over the host's cap of %d (%s; run --max-module-size, actors.Caps.MaxModuleBytes)",
			m.Package.Name, m.Path, m.Limits.ModuleBytes, limit, formatBytes(uint64(limit)))
	case m.Limits.ModuleBytes == 0 && m.ModuleLimit() > limit:
		c := *m
		c.Limits.ModuleBytes = limit
		return &c, nil
	}
	return m, nil
}

// capSpec applies the caps to a spec made from a manifest. It refuses a memory limit over the
// cap and lowers the rest, logging each change.
func (r *Runtime) capSpec(spec *CapsuleSpec) error {
	c := r.caps
	lowered := func(what string, asked, capped any) {
		r.log.Warn("manifest asks for more than the host allows; bounded by the host's cap",
			zap.String("capsule_id", spec.ID), zap.String("limit", what), zap.Any("asked", asked), zap.Any("cap", capped))
	}
	switch pages := spec.Limits.MemoryPages; {
	case pages > c.MaxMemoryPages:
		return fmt.Errorf("capsule %s: [limits] memory_pages = %d (%s) is over the host's cap of %d pages (%s; run --max-capsule-memory, actors.Caps.MaxMemoryPages)",
			spec.ID, pages, formatBytes(uint64(pages)*pageSize), c.MaxMemoryPages, formatBytes(uint64(c.MaxMemoryPages)*pageSize))
	case pages == 0:
		def := r.opts.Limits.MemoryPages
		if def == 0 {
			def = DefaultMemoryPages
		}
		spec.Limits.MemoryPages = min(def, c.MaxMemoryPages)
	}
	// A throughput budget: the capsule's own, else the runtime's, else the host default, bounded
	// by the cap (a warning only when the capsule asked for more).
	throughput := func(what string, own, runtime, def, capped int) int {
		v := cmp.Or(own, runtime, def)
		if v > capped {
			if own != 0 {
				lowered(what, v, capped)
			}
			v = capped
		}
		return v
	}
	spec.Limits.IPC.ThroughputBytesPerSec = throughput("ipc_throughput_bytes_per_sec", spec.Limits.IPC.ThroughputBytesPerSec,
		r.opts.Limits.IPC.ThroughputBytesPerSec, hostfuncs.DefaultThroughputBytesPerSec, c.MaxThroughputBytesPerSec)
	spec.Limits.IPC.ThroughputMessagesPerSec = throughput("ipc_throughput_messages_per_sec", spec.Limits.IPC.ThroughputMessagesPerSec,
		r.opts.Limits.IPC.ThroughputMessagesPerSec, hostfuncs.DefaultThroughputMessagesPerSec, c.MaxThroughputMessagesPerSec)
	if spec.Limits.KVBytes > c.MaxKVBytes {
		lowered("kv_bytes", spec.Limits.KVBytes, c.MaxKVBytes)
		spec.Limits.KVBytes = c.MaxKVBytes
	}
	if spec.Policy != nil {
		p := *spec.Policy
		if p.MaxRestarts > c.MaxRestarts {
			lowered("max_restarts", p.MaxRestarts, c.MaxRestarts)
			p.MaxRestarts = c.MaxRestarts
		}
		if w := c.restartWindowFor(p.MaxRestarts, p.Within); w != p.Within {
			lowered("within", p.Within.String(), w.String())
			p.Within = w
		}
		if p.BackoffInitial < c.MinBackoff {
			lowered("backoff_initial", p.BackoffInitial.String(), c.MinBackoff.String())
			p.BackoffInitial = c.MinBackoff
			p.BackoffMax = max(p.BackoffMax, p.BackoffInitial)
		}
		spec.Policy = &p
	}
	return nil
}

// restartWindowFor returns the shortest window, at least w, in which a policy of n restarts
// allows at most MaxRestarts restarts in any RestartWindow. Any interval of RestartWindow is
// covered by ⌈RestartWindow/w⌉ windows of w, each holding at most n restarts.
func (c Caps) restartWindowFor(n int, w time.Duration) time.Duration {
	if n <= 0 || w <= 0 {
		return w
	}
	windows := int64((c.RestartWindow + w - 1) / w) // ⌈RestartWindow/w⌉
	if int64(n)*windows <= int64(c.MaxRestarts) {
		return w
	}
	k := time.Duration(c.MaxRestarts / n) // windows of w' that may fit in RestartWindow
	return (c.RestartWindow + k - 1) / k  // ⌈RestartWindow/k⌉, so ⌈RestartWindow/w'⌉ <= k
}
