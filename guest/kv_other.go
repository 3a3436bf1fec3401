//go:build !wasip1

package guest

import "unsafe"

// Stand-ins for the astrid:kv imports outside GOOS=wasip1: every call fails with ErrUnknown.

func kvGet(key string, buf unsafe.Pointer, bufCap uint32, lenOut *uint32) int32 { return notWasm }
func kvSet(key string, val unsafe.Pointer, valLen uint32) int32                 { return notWasm }
func kvDelete(key string) int32                                                 { return notWasm }
func kvCAS(key string, expected unsafe.Pointer, expectedLen uint32, expectPresent uint32, val unsafe.Pointer, valLen uint32) int32 {
	return notWasm
}
func kvListPage(prefix, cursor string, limit uint32, buf unsafe.Pointer, bufCap uint32, lenOut *uint32) int32 {
	return notWasm
}
func kvClearPrefix(prefix string, countOut *uint64) int32 { return notWasm }
