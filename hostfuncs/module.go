// Package hostfuncs implements the host side of the capsule ABI (docs/abi.md) on wazero: the
// modules "astrid:ipc@1.0.0" (publish, subscribe, poll, recv, wait, drop, bindings),
// "astrid:ipc@1.1.0" (the same plus publish-batch), "astrid:sys@1.0.0" (log, readiness,
// caller, clocks, sleep, randomness, config) and "astrid:kv@1.0.0" (durable key-value state, kv.go).
//
// The host modules are instantiated once per wazero.Runtime (Register); each guest call finds
// its capsule instance's state in the call's context (WithInstance). Every pointer and length a
// guest passes is range-checked before use: a bad one yields invalid-input, never a host panic
// or a trap. Blocking calls (recv, wait, sleep-ns) select on the call's context, so stopping a
// capsule (cancelling that context) makes them return cancelled at once.
package hostfuncs

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/astrid-actors/astrid-actors/abi"
)

// Function describes one host function for validation and inspection.
type Function struct {
	Module  string
	Name    string
	Params  []api.ValueType
	Results []api.ValueType
	fn      func(ctx context.Context, in *Instance, mem guestMemory, s []uint64) uint64
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

func u32(v uint64) uint32 { return api.DecodeU32(v) }

func code(c abi.Code) uint64 { return api.EncodeI32(int32(c)) }

// functions is the whole host ABI: one table used to register, validate and inspect. It holds
// astrid:ipc@1.0.0, astrid:sys@1.0.0 and astrid:ipc@1.1.0 (every 1.0.0 ipc function, plus
// publish-batch).
var functions = withIPC11(baseFunctions, Function{abi.ModuleIPC11, "publish-batch", []api.ValueType{i32, i32, i32}, []api.ValueType{i32},
	func(_ context.Context, in *Instance, m guestMemory, s []uint64) uint64 {
		return code(in.abiPublishBatch(m, u32(s[0]), u32(s[1]), u32(s[2])))
	}})

// withIPC11 returns base plus, under abi.ModuleIPC11, a copy of every abi.ModuleIPC function
// and the additions of version 1.1.
func withIPC11(base []Function, additions ...Function) []Function {
	out := append([]Function(nil), base...)
	for _, f := range base {
		if f.Module == abi.ModuleIPC {
			f.Module = abi.ModuleIPC11
			out = append(out, f)
		}
	}
	return append(out, additions...)
}

// baseFunctions are the functions of the 1.0.0 modules.
var baseFunctions = []Function{
	{abi.ModuleIPC, "publish", []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32},
		func(_ context.Context, in *Instance, m guestMemory, s []uint64) uint64 {
			return code(in.abiPublish(m, u32(s[0]), u32(s[1]), u32(s[2]), u32(s[3])))
		}},
	{abi.ModuleIPC, "publish-as", []api.ValueType{i32, i32, i32, i32, i32, i32}, []api.ValueType{i32},
		func(_ context.Context, in *Instance, m guestMemory, s []uint64) uint64 {
			return code(in.abiPublishAs(m, u32(s[0]), u32(s[1]), u32(s[2]), u32(s[3]), u32(s[4]), u32(s[5])))
		}},
	{abi.ModuleIPC, "subscribe", []api.ValueType{i32, i32, i32}, []api.ValueType{i32},
		func(ctx context.Context, in *Instance, m guestMemory, s []uint64) uint64 {
			return code(in.abiSubscribe(ctx, m, u32(s[0]), u32(s[1]), u32(s[2])))
		}},
	{abi.ModuleIPC, "subscription-poll", []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32},
		func(_ context.Context, in *Instance, m guestMemory, s []uint64) uint64 {
			return code(in.abiPoll(m, u32(s[0]), u32(s[1]), u32(s[2]), u32(s[3])))
		}},
	{abi.ModuleIPC, "subscription-recv", []api.ValueType{i32, i64, i32, i32, i32}, []api.ValueType{i32},
		func(ctx context.Context, in *Instance, m guestMemory, s []uint64) uint64 {
			return code(in.abiRecv(ctx, m, u32(s[0]), int64(s[1]), u32(s[2]), u32(s[3]), u32(s[4])))
		}},
	{abi.ModuleIPC, "subscription-wait", []api.ValueType{i32, i32, i64, i32, i32, i32}, []api.ValueType{i32},
		func(ctx context.Context, in *Instance, m guestMemory, s []uint64) uint64 {
			return code(in.abiWait(ctx, m, u32(s[0]), u32(s[1]), int64(s[2]), u32(s[3]), u32(s[4]), u32(s[5])))
		}},
	{abi.ModuleIPC, "subscription-drop", []api.ValueType{i32}, []api.ValueType{i32},
		func(ctx context.Context, in *Instance, _ guestMemory, s []uint64) uint64 {
			return code(in.Drop(ctx, u32(s[0])))
		}},
	{abi.ModuleIPC, "get-interceptor-bindings", []api.ValueType{i32, i32, i32}, []api.ValueType{i32},
		func(_ context.Context, in *Instance, m guestMemory, s []uint64) uint64 {
			return code(in.abiInterceptorBindings(m, u32(s[0]), u32(s[1]), u32(s[2])))
		}},
	{abi.ModuleSys, "log", []api.ValueType{i32, i32, i32}, []api.ValueType{i32},
		func(_ context.Context, in *Instance, m guestMemory, s []uint64) uint64 {
			return code(in.abiLog(m, api.DecodeI32(s[0]), u32(s[1]), u32(s[2])))
		}},
	{abi.ModuleSys, "signal-ready", nil, []api.ValueType{i32},
		func(_ context.Context, in *Instance, _ guestMemory, _ []uint64) uint64 {
			return code(in.SignalReady())
		}},
	{abi.ModuleSys, "get-caller", []api.ValueType{i32, i32, i32}, []api.ValueType{i32},
		func(_ context.Context, in *Instance, m guestMemory, s []uint64) uint64 {
			return code(in.abiGetCaller(m, u32(s[0]), u32(s[1]), u32(s[2])))
		}},
	{abi.ModuleSys, "clock-ms", nil, []api.ValueType{i64},
		func(_ context.Context, in *Instance, _ guestMemory, _ []uint64) uint64 {
			return uint64(in.ClockMillis())
		}},
	{abi.ModuleSys, "clock-monotonic-ns", nil, []api.ValueType{i64},
		func(_ context.Context, in *Instance, _ guestMemory, _ []uint64) uint64 {
			return uint64(in.ClockMonotonicNanos())
		}},
	{abi.ModuleSys, "sleep-ns", []api.ValueType{i64}, []api.ValueType{i32},
		func(ctx context.Context, in *Instance, _ guestMemory, s []uint64) uint64 {
			return code(in.Sleep(ctx, int64(s[0])))
		}},
	{abi.ModuleSys, "random-bytes", []api.ValueType{i32, i32}, []api.ValueType{i32},
		func(_ context.Context, in *Instance, m guestMemory, s []uint64) uint64 {
			return code(in.abiRandomBytes(m, u32(s[0]), u32(s[1])))
		}},
	{abi.ModuleSys, "get-config", []api.ValueType{i32, i32, i32, i32, i32}, []api.ValueType{i32},
		func(_ context.Context, in *Instance, m guestMemory, s []uint64) uint64 {
			return code(in.abiGetConfig(m, u32(s[0]), u32(s[1]), u32(s[2]), u32(s[3]), u32(s[4])))
		}},
}

// Functions returns the host functions of the ABI, for validation of guest imports.
func Functions() []Function {
	out := make([]Function, len(functions))
	copy(out, functions)
	return out
}

// Lookup returns the host function module.name, or false.
func Lookup(module, name string) (Function, bool) {
	for _, f := range functions {
		if f.Module == module && f.Name == name {
			return f, true
		}
	}
	return Function{}, false
}

// Register instantiates the host modules in r. Call it once per runtime, before instantiating
// capsules.
func Register(ctx context.Context, r wazero.Runtime) error {
	builders := map[string]wazero.HostModuleBuilder{}
	for _, f := range functions {
		b := builders[f.Module]
		if b == nil {
			b = r.NewHostModuleBuilder(f.Module)
			builders[f.Module] = b
		}
		b.NewFunctionBuilder().
			WithGoModuleFunction(wrap(f), f.Params, f.Results).
			WithName(f.Name).
			Export(f.Name)
	}
	for _, name := range []string{abi.ModuleIPC, abi.ModuleIPC11, abi.ModuleSys, abi.ModuleKV} {
		if _, err := builders[name].Instantiate(ctx); err != nil {
			return fmt.Errorf("hostfuncs: instantiate %s: %w", name, err)
		}
	}
	return nil
}

// wrap adapts a table entry to wazero: it finds the instance in ctx (a module instantiated
// without one gets unknown), takes the view of the guest memory the call may use, and writes
// the result.
func wrap(f Function) api.GoModuleFunc {
	// Guest pointers are i32: a function without an i32 parameter never reads or writes guest
	// memory, and skips taking the view.
	usesMemory := slices.Contains(f.Params, i32)
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		in := InstanceFrom(ctx)
		if in == nil {
			stack[0] = code(abi.Unknown)
			if len(f.Results) > 0 && f.Results[0] == i64 {
				stack[0] = 0
			}
			return
		}
		var mem guestMemory
		if usesMemory {
			mem = in.views.memoryOf(mod)
		}
		if in.cfg.Observe == nil {
			stack[0] = f.fn(ctx, in, mem, stack)
			return
		}
		start := time.Since(clockBase)
		stack[0] = f.fn(ctx, in, mem, stack)
		in.cfg.Observe(f.Name, time.Since(clockBase)-start)
	}
}

// clockBase is the origin of the host-call timings given to Config.Observe. It carries a
// monotonic clock reading, so time.Since(clockBase) reads only the monotonic clock: two clock
// reads per observed call, where time.Now at the start would add a read of the wall clock.
var clockBase = time.Now()
