//go:build wasip1

package main

import (
	"runtime"
	"unsafe"
)

// Raw duplicates of every host import, with plain integers for every pointer and length, so the
// probe can pass exactly what a test asks for (hostile values included) and see the status
// without the SDK's checks and retries. They import the same module/name pairs as the guest SDK;
// the module then lists those imports twice, which wasm allows.

//go:wasmimport astrid:ipc@1.0.0 publish
func rawPublish(topicPtr, topicLen, payloadPtr, payloadLen uint32) int32

//go:wasmimport astrid:ipc@1.0.0 publish-as
func rawPublishAs(topicPtr, topicLen, payloadPtr, payloadLen, principalPtr, principalLen uint32) int32

//go:wasmimport astrid:ipc@1.0.0 subscribe
func rawSubscribe(patternPtr, patternLen, handleOutPtr uint32) int32

//go:wasmimport astrid:ipc@1.0.0 subscription-poll
func rawPoll(handle, bufPtr, bufCap, lenOutPtr uint32) int32

//go:wasmimport astrid:ipc@1.0.0 subscription-recv
func rawRecv(handle uint32, timeoutMs int64, bufPtr, bufCap, lenOutPtr uint32) int32

//go:wasmimport astrid:ipc@1.0.0 subscription-wait
func rawWait(handlesPtr, handlesCount uint32, timeoutMs int64, readyPtr, readyCap, readyLenOutPtr uint32) int32

//go:wasmimport astrid:ipc@1.0.0 subscription-drop
func rawDrop(handle uint32) int32

//go:wasmimport astrid:ipc@1.0.0 get-interceptor-bindings
func rawBindings(bufPtr, bufCap, lenOutPtr uint32) int32

//go:wasmimport astrid:sys@1.0.0 log
func rawLog(level, msgPtr, msgLen uint32) int32

//go:wasmimport astrid:sys@1.0.0 signal-ready
func rawSignalReady() int32

//go:wasmimport astrid:sys@1.0.0 get-caller
func rawGetCaller(bufPtr, bufCap, lenOutPtr uint32) int32

//go:wasmimport astrid:sys@1.0.0 clock-ms
func rawClockMs() int64

//go:wasmimport astrid:sys@1.0.0 clock-monotonic-ns
func rawClockMonotonicNs() int64

//go:wasmimport astrid:sys@1.0.0 sleep-ns
func rawSleepNs(ns int64) int32

//go:wasmimport astrid:sys@1.0.0 random-bytes
func rawRandomBytes(bufPtr, n uint32) int32

//go:wasmimport astrid:sys@1.0.0 get-config
func rawGetConfig(keyPtr, keyLen, bufPtr, bufCap, lenOutPtr uint32) int32

// rawFn is one import as the "raw" command sees it: its parameter kinds ('i' for i32, 'I' for
// i64) and a call taking the arguments as 64-bit values.
type rawFn struct {
	params string
	call   func(a []uint64) int64
	// value marks the clocks, whose result is a value rather than a status code.
	value bool
}

func u(v uint64) uint32 { return uint32(v) }

var rawFns = map[string]rawFn{
	"publish": {"iiii", func(a []uint64) int64 { return int64(rawPublish(u(a[0]), u(a[1]), u(a[2]), u(a[3]))) }, false},
	"publish-as": {"iiiiii", func(a []uint64) int64 {
		return int64(rawPublishAs(u(a[0]), u(a[1]), u(a[2]), u(a[3]), u(a[4]), u(a[5])))
	}, false},
	"subscribe":         {"iii", func(a []uint64) int64 { return int64(rawSubscribe(u(a[0]), u(a[1]), u(a[2]))) }, false},
	"subscription-poll": {"iiii", func(a []uint64) int64 { return int64(rawPoll(u(a[0]), u(a[1]), u(a[2]), u(a[3]))) }, false},
	"subscription-recv": {"iIiii", func(a []uint64) int64 {
		return int64(rawRecv(u(a[0]), int64(a[1]), u(a[2]), u(a[3]), u(a[4])))
	}, false},
	"subscription-wait": {"iiIiii", func(a []uint64) int64 {
		return int64(rawWait(u(a[0]), u(a[1]), int64(a[2]), u(a[3]), u(a[4]), u(a[5])))
	}, false},
	"subscription-drop":        {"i", func(a []uint64) int64 { return int64(rawDrop(u(a[0]))) }, false},
	"get-interceptor-bindings": {"iii", func(a []uint64) int64 { return int64(rawBindings(u(a[0]), u(a[1]), u(a[2]))) }, false},
	"log":                      {"iii", func(a []uint64) int64 { return int64(rawLog(u(a[0]), u(a[1]), u(a[2]))) }, false},
	"signal-ready":             {"", func([]uint64) int64 { return int64(rawSignalReady()) }, false},
	"get-caller":               {"iii", func(a []uint64) int64 { return int64(rawGetCaller(u(a[0]), u(a[1]), u(a[2]))) }, false},
	"clock-ms":                 {"", func([]uint64) int64 { return rawClockMs() }, true},
	"clock-monotonic-ns":       {"", func([]uint64) int64 { return rawClockMonotonicNs() }, true},
	"sleep-ns":                 {"I", func(a []uint64) int64 { return int64(rawSleepNs(int64(a[0]))) }, false},
	"random-bytes":             {"ii", func(a []uint64) int64 { return int64(rawRandomBytes(u(a[0]), u(a[1]))) }, false},
	"get-config": {"iiiii", func(a []uint64) int64 {
		return int64(rawGetConfig(u(a[0]), u(a[1]), u(a[2]), u(a[3]), u(a[4])))
	}, false},
}

// Memory the raw calls point into. Package-level variables never move, so their addresses can
// be handed to the host as plain integers.
var (
	// scratch is a buffer tests may point raw calls at ({"op":"scratch"} returns its address).
	scratch [64 << 10]byte
	// outU32 receives len_out / handle_out values of the probe's own raw calls.
	outU32 uint32
)

// addr is the linear-memory address of b's first byte (0 for a nil slice). The Go heap does not
// move objects; the caller keeps b alive across the call (runtime.KeepAlive).
func addr(b []byte) uint32 { return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b)))) }

func addrU32s(b []uint32) uint32 { return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b)))) }

func addrString(s string) uint32 { return uint32(uintptr(unsafe.Pointer(unsafe.StringData(s)))) }

func outAddr() uint32 { return uint32(uintptr(unsafe.Pointer(&outU32))) }

func scratchAddr() uint32 { return uint32(uintptr(unsafe.Pointer(&scratch[0]))) }

// logRaw calls sys log with msg's bytes.
func logRaw(level uint32, msg string) int32 {
	c := rawLog(level, addrString(msg), uint32(len(msg)))
	runtime.KeepAlive(msg)
	return c
}
