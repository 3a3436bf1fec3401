package hostfuncs

import (
	"encoding/binary"

	"github.com/tetratelabs/wazero/api"
)

// guestMemory is a guest's linear memory as one host call sees it, with range checks in 64-bit
// arithmetic, so no pointer/length pair from a guest can wrap around or reach outside the
// memory.
//
// It holds the memory's bytes as a slice obtained when the call starts (viewCache.memoryOf),
// so every check and access is slice arithmetic instead of calls through api.Memory. The slice
// stays valid for the whole call: the guest does not run during a host call, so it cannot grow
// its memory (memory.grow), and no host function grows it. A memory.grow between two calls is
// seen by the second (TestMemoryGrowBetweenCalls). Never keep a guestMemory past its call.
type guestMemory struct {
	buf []byte
	ok  bool // false: mod.Memory() was nil, and every range check fails
}

// memoryOf returns a new view of mod's memory.
func memoryOf(mod api.Module) guestMemory {
	m := mod.Memory()
	if m == nil {
		return guestMemory{}
	}
	buf, ok := m.Read(0, m.Size())
	return guestMemory{buf: buf, ok: ok}
}

// viewCache is the memory view of an instance's last host call, reused by the next call of the
// same module while the memory has the same size. A memory's bytes move or change length only
// when it grows, and growing changes its size, so a view of the current size is current
// (TestMemoryGrowBetweenCalls); a call from another module takes a new view
// (TestMemoryViewPerModule). It belongs to the guest's call goroutine, as the other per-call
// state of Instance.
type viewCache struct {
	mod  api.Module
	mem  api.Memory
	view guestMemory
}

// memoryOf returns the view of mod's memory for the current host call of the instance: one
// api.Memory call when the cached view is current, memoryOf's three otherwise.
func (c *viewCache) memoryOf(mod api.Module) guestMemory {
	if mod == c.mod && c.mem != nil && uint64(c.mem.Size()) == uint64(len(c.view.buf)) {
		return c.view
	}
	c.mod, c.mem, c.view = mod, mod.Memory(), memoryOf(mod)
	return c.view
}

// inRange reports whether [ptr, ptr+n) lies inside the memory.
func (g guestMemory) inRange(ptr, n uint32) bool {
	return g.ok && uint64(ptr)+uint64(n) <= uint64(len(g.buf))
}

// view returns the guest bytes [ptr, ptr+n) without copying; valid until the guest runs again.
func (g guestMemory) view(ptr, n uint32) ([]byte, bool) {
	if !g.inRange(ptr, n) {
		return nil, false
	}
	end := uint64(ptr) + uint64(n)
	return g.buf[ptr:end:end], true
}

// str returns the guest bytes [ptr, ptr+n) as a string (a copy).
func (g guestMemory) str(ptr, n uint32) (string, bool) {
	v, ok := g.view(ptr, n)
	if !ok {
		return "", false
	}
	return string(v), true
}

// write copies b to guest memory at ptr.
func (g guestMemory) write(ptr uint32, b []byte) bool {
	if uint64(len(b)) > uint64(^uint32(0)) || !g.inRange(ptr, uint32(len(b))) {
		return false
	}
	copy(g.buf[ptr:], b)
	return true
}

// putU32 writes v little-endian at ptr.
func (g guestMemory) putU32(ptr, v uint32) bool {
	if !g.inRange(ptr, 4) {
		return false
	}
	binary.LittleEndian.PutUint32(g.buf[ptr:], v)
	return true
}

// u32s reads count little-endian u32 values at ptr.
func (g guestMemory) u32s(ptr, count uint32) ([]uint32, bool) {
	if uint64(count)*4 > uint64(^uint32(0)) {
		return nil, false
	}
	v, ok := g.view(ptr, count*4)
	if !ok {
		return nil, false
	}
	out := make([]uint32, count)
	for i := range out {
		out[i] = binary.LittleEndian.Uint32(v[i*4:])
	}
	return out, true
}
