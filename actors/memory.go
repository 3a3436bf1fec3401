package actors

import (
	"github.com/tetratelabs/wazero/experimental"
)

// pageSize is the size of one wasm page.
const pageSize = 65536

// limitedAllocator backs one instance's linear memory and refuses to grow it past a limit:
// memory.grow beyond the limit returns -1 to the guest (a Go guest then dies of "out of
// memory", which is a crash the supervisor handles). wazero's own limit is per runtime; this is
// how each capsule gets its own.
type limitedAllocator struct{ limitBytes uint64 }

func (a limitedAllocator) Allocate(capBytes, maxBytes uint64) experimental.LinearMemory {
	return &limitedMemory{limit: min(a.limitBytes, maxBytes)}
}

type limitedMemory struct {
	buf   []byte
	limit uint64
}

// Reallocate grows the buffer to size bytes, doubling the capacity (up to the limit) so that
// repeated small grows are amortised. It returns nil past the limit.
func (m *limitedMemory) Reallocate(size uint64) []byte {
	if size > m.limit {
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	newCap := min(max(size, 2*uint64(cap(m.buf))), m.limit)
	buf := make([]byte, size, newCap)
	copy(buf, m.buf)
	m.buf = buf
	return buf
}

// Free drops the buffer.
func (m *limitedMemory) Free() { m.buf = nil }
