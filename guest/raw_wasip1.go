//go:build wasip1

package guest

import "unsafe"

// The host imports, exactly as ABI §3 and §4 declare them. A Go string parameter lowers to an
// (i32 ptr, i32 len) pair; unsafe.Pointer and *uint32 lower to an i32 pointer into linear
// memory; uint32/int32 lower to i32 and int64 to i64. raw_other.go has stand-ins with the same
// signatures for builds outside wasm.

//go:wasmimport astrid:ipc@1.0.0 publish
func ipcPublish(topic, payload string) int32

//go:wasmimport astrid:ipc@1.0.0 publish-as
func ipcPublishAs(topic, payload, principal string) int32

// publish-batch is new in astrid:ipc@1.1.0 (ABI §6). A Go wasm binary imports it only when it
// calls PublishBatch, so other capsules keep running on 1.0-only hosts.
//
//go:wasmimport astrid:ipc@1.1.0 publish-batch
func ipcPublishBatch(records unsafe.Pointer, recordsLen uint32, acceptedOut *uint32) int32

//go:wasmimport astrid:ipc@1.0.0 subscribe
func ipcSubscribe(pattern string, handleOut *uint32) int32

//go:wasmimport astrid:ipc@1.0.0 subscription-poll
func ipcPoll(handle uint32, buf unsafe.Pointer, bufCap uint32, lenOut *uint32) int32

//go:wasmimport astrid:ipc@1.0.0 subscription-recv
func ipcRecv(handle uint32, timeoutMs int64, buf unsafe.Pointer, bufCap uint32, lenOut *uint32) int32

//go:wasmimport astrid:ipc@1.0.0 subscription-wait
func ipcWait(handles unsafe.Pointer, count uint32, timeoutMs int64, ready unsafe.Pointer, readyCap uint32, readyLenOut *uint32) int32

//go:wasmimport astrid:ipc@1.0.0 subscription-drop
func ipcDrop(handle uint32) int32

//go:wasmimport astrid:ipc@1.0.0 get-interceptor-bindings
func ipcBindings(buf unsafe.Pointer, bufCap uint32, lenOut *uint32) int32

//go:wasmimport astrid:sys@1.0.0 log
func sysLog(level int32, msg string) int32

//go:wasmimport astrid:sys@1.0.0 signal-ready
func sysSignalReady() int32

//go:wasmimport astrid:sys@1.0.0 get-caller
func sysGetCaller(buf unsafe.Pointer, bufCap uint32, lenOut *uint32) int32

//go:wasmimport astrid:sys@1.0.0 clock-ms
func sysClockMs() int64

//go:wasmimport astrid:sys@1.0.0 clock-monotonic-ns
func sysClockMonotonicNs() int64

//go:wasmimport astrid:sys@1.0.0 sleep-ns
func sysSleepNs(ns int64) int32

//go:wasmimport astrid:sys@1.0.0 random-bytes
func sysRandomBytes(buf unsafe.Pointer, n uint32) int32

//go:wasmimport astrid:sys@1.0.0 get-config
func sysGetConfig(key string, buf unsafe.Pointer, bufCap uint32, lenOut *uint32) int32
