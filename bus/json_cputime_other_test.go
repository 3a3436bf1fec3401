//go:build !linux

package bus

// threadCPUTime returns 0: no per-thread CPU clock is used on this system.
func threadCPUTime() int64 { return 0 }
