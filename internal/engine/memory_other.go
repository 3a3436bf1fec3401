//go:build !linux

package engine

// mapMemory is not available here: linear memories are Go slices.
func mapMemory(uint64) ([]byte, bool) { return nil, false }

func unmapMemory([]byte) {}
