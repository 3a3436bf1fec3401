package engine

import (
	"sync"

	"github.com/tetratelabs/wazero/experimental"
)

// PageSize is the size of one wasm page in bytes.
const PageSize = 65536

// InstanceMemory backs one instance's linear memory and refuses to grow it past a limit:
// memory.grow beyond the limit returns -1 to the guest (a Go guest then dies of "out of
// memory", which is a crash the supervisor handles). wazero's own limit is per runtime; this is
// how each capsule gets its own.
//
// On Linux the memory is an anonymous mapping of the whole limit, reserved but not committed
// (MAP_NORESERVE): pages cost RSS only once the guest touches them, growing never copies, and
// Free unmaps it, so a closed instance's memory goes back to the OS at once instead of waiting
// for the Go garbage collector and scavenger (a 1 GiB capsule that crash-loops otherwise holds
// gigabytes of dead heap). Elsewhere it is a Go slice.
//
// Release frees whatever Free did not: wazero skips Free when the module was closed by a
// cancelled context at a moment it does not notice, and an unmapped mapping is never
// collected. It must only be called once no guest code of the instance runs.
type InstanceMemory struct {
	limitBytes uint64

	mu   sync.Mutex
	mems []*linearMemory
}

// NewInstanceMemory returns the allocator of one instance's memories, each limited to
// limitBytes; pass it with experimental.WithMemoryAllocator in the instantiation context.
func NewInstanceMemory(limitBytes uint64) *InstanceMemory {
	return &InstanceMemory{limitBytes: limitBytes}
}

// Allocate implements experimental.MemoryAllocator.
func (a *InstanceMemory) Allocate(_, maxBytes uint64) experimental.LinearMemory {
	m := &linearMemory{limit: min(a.limitBytes, maxBytes)}
	a.mu.Lock()
	a.mems = append(a.mems, m)
	a.mu.Unlock()
	return m
}

// Release frees every memory of the instance.
func (a *InstanceMemory) Release() {
	a.mu.Lock()
	mems := a.mems
	a.mems = nil
	a.mu.Unlock()
	for _, m := range mems {
		m.Free()
	}
}

// linearMemory is one linear memory of at most limit bytes.
type linearMemory struct {
	limit uint64

	mu     sync.Mutex
	buf    []byte
	mapped bool // buf is an OS mapping of cap(buf) bytes
}

// Reallocate grows the memory to size bytes. It returns nil past the limit.
func (m *linearMemory) Reallocate(size uint64) []byte {
	if size > m.limit {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.buf == nil {
		if buf, ok := mapMemory(m.limit); ok {
			m.buf, m.mapped = buf, true
		}
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	// Not mapped: a Go slice doubling its capacity (up to the limit), so that repeated small
	// grows are amortised.
	newCap := min(max(size, 2*uint64(cap(m.buf))), m.limit)
	buf := make([]byte, size, newCap)
	copy(buf, m.buf)
	m.buf = buf
	return buf
}

// Free releases the memory; it is idempotent.
func (m *linearMemory) Free() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mapped {
		unmapMemory(m.buf[:cap(m.buf)])
	}
	m.buf, m.mapped = nil, false
}
