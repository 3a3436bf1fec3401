//go:build wasip1

package guest

import "unsafe"

// The astrid:kv@1.0.0 imports, exactly as ABI §7 declares them (kv_other.go has stand-ins).

//go:wasmimport astrid:kv@1.0.0 kv-get
func kvGet(key string, buf unsafe.Pointer, bufCap uint32, lenOut *uint32) int32

//go:wasmimport astrid:kv@1.0.0 kv-set
func kvSet(key string, val unsafe.Pointer, valLen uint32) int32

//go:wasmimport astrid:kv@1.0.0 kv-delete
func kvDelete(key string) int32

//go:wasmimport astrid:kv@1.0.0 kv-cas
func kvCAS(key string, expected unsafe.Pointer, expectedLen uint32, expectPresent uint32, val unsafe.Pointer, valLen uint32) int32

//go:wasmimport astrid:kv@1.0.0 kv-list-keys-page
func kvListPage(prefix, cursor string, limit uint32, buf unsafe.Pointer, bufCap uint32, lenOut *uint32) int32

//go:wasmimport astrid:kv@1.0.0 kv-clear-prefix
func kvClearPrefix(prefix string, countOut *uint64) int32
