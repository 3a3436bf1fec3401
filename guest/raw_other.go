//go:build !wasip1

package guest

import (
	"unsafe"

	"github.com/astrid-actors/astrid-actors/abi"
)

// Stand-ins for the host imports outside GOOS=wasip1, so the package builds, vets and unit-tests
// on a development machine. There is no host to call: every status-returning call fails with
// abi.Unknown (ErrUnknown) and the clocks read zero.

const notWasm = int32(abi.Unknown)

func ipcPublish(topic, payload string) int32               { return notWasm }
func ipcPublishAs(topic, payload, principal string) int32  { return notWasm }
func ipcSubscribe(pattern string, handleOut *uint32) int32 { return notWasm }
func ipcPublishBatch(records unsafe.Pointer, recordsLen uint32, acceptedOut *uint32) int32 {
	return notWasm
}
func ipcPoll(handle uint32, buf unsafe.Pointer, bufCap uint32, lenOut *uint32) int32 { return notWasm }
func ipcRecv(handle uint32, timeoutMs int64, buf unsafe.Pointer, bufCap uint32, lenOut *uint32) int32 {
	return notWasm
}
func ipcWait(handles unsafe.Pointer, count uint32, timeoutMs int64, ready unsafe.Pointer, readyCap uint32, readyLenOut *uint32) int32 {
	return notWasm
}
func ipcDrop(handle uint32) int32                                          { return notWasm }
func ipcBindings(buf unsafe.Pointer, bufCap uint32, lenOut *uint32) int32  { return notWasm }
func sysLog(level int32, msg string) int32                                 { return notWasm }
func sysSignalReady() int32                                                { return notWasm }
func sysGetCaller(buf unsafe.Pointer, bufCap uint32, lenOut *uint32) int32 { return notWasm }
func sysClockMs() int64                                                    { return 0 }
func sysClockMonotonicNs() int64                                           { return 0 }
func sysSleepNs(ns int64) int32                                            { return notWasm }
func sysRandomBytes(buf unsafe.Pointer, n uint32) int32                    { return notWasm }
func sysGetConfig(key string, buf unsafe.Pointer, bufCap uint32, lenOut *uint32) int32 {
	return notWasm
}
