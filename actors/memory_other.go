//go:build !linux

package actors

// mapMemory is not available here: linear memories are Go slices.
func mapMemory(uint64) ([]byte, bool) { return nil, false }

func unmapMemory([]byte) {}
