package hostfuncs

import (
	"encoding/binary"

	"github.com/tetratelabs/wazero/api"
)

// guestMemory wraps a guest's exported memory with range checks in 64-bit arithmetic, so no
// pointer/length pair from a guest can wrap around or reach outside the memory.
type guestMemory struct{ mem api.Memory }

func memoryOf(mod api.Module) guestMemory { return guestMemory{mem: mod.Memory()} }

// inRange reports whether [ptr, ptr+n) lies inside the memory.
func (g guestMemory) inRange(ptr, n uint32) bool {
	if g.mem == nil {
		return false
	}
	return uint64(ptr)+uint64(n) <= uint64(g.mem.Size())
}

// view returns the guest bytes [ptr, ptr+n) without copying; valid until the guest runs again.
func (g guestMemory) view(ptr, n uint32) ([]byte, bool) {
	if !g.inRange(ptr, n) {
		return nil, false
	}
	if n == 0 {
		return []byte{}, true
	}
	return g.mem.Read(ptr, n)
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
	if !g.inRange(ptr, uint32(len(b))) || uint64(len(b)) > uint64(^uint32(0)) {
		return false
	}
	if len(b) == 0 {
		return true
	}
	return g.mem.Write(ptr, b)
}

// putU32 writes v little-endian at ptr.
func (g guestMemory) putU32(ptr, v uint32) bool {
	if !g.inRange(ptr, 4) {
		return false
	}
	return g.mem.WriteUint32Le(ptr, v)
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
