package guest

import (
	"unsafe"

	"github.com/astrid-actors/astrid-actors/abi"
)

// hostCalls is the raw host ABI seen through Go slices: each function passes its buffer
// arguments to the host as (pointer, len) and returns the status as an abi.Code. The SDK
// only ever calls the host through the package variable host, so the unit tests can swap in a
// fake host; everything else in the package is plain Go.
type hostCalls struct {
	publish     func(topic, payload string) abi.Code
	publishAs   func(topic, payload, principal string) abi.Code
	subscribe   func(pattern string, handleOut *uint32) abi.Code
	batch       func(records []byte, acceptedOut *uint32) abi.Code
	poll        func(handle uint32, buf []byte, lenOut *uint32) abi.Code
	recv        func(handle uint32, timeoutMs int64, buf []byte, lenOut *uint32) abi.Code
	wait        func(handles []uint32, timeoutMs int64, ready []uint32, readyLenOut *uint32) abi.Code // *readyLenOut: bytes
	drop        func(handle uint32) abi.Code
	bindings    func(buf []byte, lenOut *uint32) abi.Code
	log         func(level abi.LogLevel, msg string) abi.Code
	signalReady func() abi.Code
	caller      func(buf []byte, lenOut *uint32) abi.Code
	clockMs     func() int64
	monotonicNs func() int64
	sleepNs     func(ns int64) abi.Code
	random      func(buf []byte) abi.Code
	config      func(key string, buf []byte, lenOut *uint32) abi.Code
}

// host is the host the SDK talks to: the wasm imports (stand-ins outside wasip1).
var host = realHost()

// realHost wraps the raw imports of raw_wasip1.go (raw_other.go outside wasm).
func realHost() hostCalls {
	return hostCalls{
		publish: func(topic, payload string) abi.Code {
			return abi.Code(ipcPublish(topic, payload))
		},
		publishAs: func(topic, payload, principal string) abi.Code {
			return abi.Code(ipcPublishAs(topic, payload, principal))
		},
		subscribe: func(pattern string, handleOut *uint32) abi.Code {
			return abi.Code(ipcSubscribe(pattern, handleOut))
		},
		batch: func(records []byte, acceptedOut *uint32) abi.Code {
			return abi.Code(ipcPublishBatch(bytesPtr(records), uint32(len(records)), acceptedOut))
		},
		poll: func(handle uint32, buf []byte, lenOut *uint32) abi.Code {
			return abi.Code(ipcPoll(handle, bytesPtr(buf), uint32(len(buf)), lenOut))
		},
		recv: func(handle uint32, timeoutMs int64, buf []byte, lenOut *uint32) abi.Code {
			return abi.Code(ipcRecv(handle, timeoutMs, bytesPtr(buf), uint32(len(buf)), lenOut))
		},
		wait: func(handles []uint32, timeoutMs int64, ready []uint32, readyLenOut *uint32) abi.Code {
			// ready_cap is in bytes, 4 per handle, like every cap (ABI §1).
			return abi.Code(ipcWait(unsafe.Pointer(unsafe.SliceData(handles)), uint32(len(handles)), timeoutMs,
				unsafe.Pointer(unsafe.SliceData(ready)), uint32(len(ready))*abi.WaitHandleSize, readyLenOut))
		},
		drop: func(handle uint32) abi.Code { return abi.Code(ipcDrop(handle)) },
		bindings: func(buf []byte, lenOut *uint32) abi.Code {
			return abi.Code(ipcBindings(bytesPtr(buf), uint32(len(buf)), lenOut))
		},
		log:         func(level abi.LogLevel, msg string) abi.Code { return abi.Code(sysLog(int32(level), msg)) },
		signalReady: func() abi.Code { return abi.Code(sysSignalReady()) },
		caller: func(buf []byte, lenOut *uint32) abi.Code {
			return abi.Code(sysGetCaller(bytesPtr(buf), uint32(len(buf)), lenOut))
		},
		clockMs:     sysClockMs,
		monotonicNs: sysClockMonotonicNs,
		sleepNs:     func(ns int64) abi.Code { return abi.Code(sysSleepNs(ns)) },
		random: func(buf []byte) abi.Code {
			return abi.Code(sysRandomBytes(bytesPtr(buf), uint32(len(buf))))
		},
		config: func(key string, buf []byte, lenOut *uint32) abi.Code {
			return abi.Code(sysGetConfig(key, bytesPtr(buf), uint32(len(buf)), lenOut))
		},
	}
}

// bytesPtr is the address of b's backing array (nil, i.e. guest address 0, for a nil slice).
func bytesPtr(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

// bytesString views b as a string without copying, for passing a payload to an import that only
// reads it during the call.
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
