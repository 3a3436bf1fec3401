package hostfuncs

import (
	"testing"

	"github.com/tetratelabs/wazero/api"

	"github.com/astrid-actors/astrid-actors/abi"
)

// TestHostilePointers calls every host function with pointer/length pairs outside guest memory
// or wrapping around 2^32: each returns invalid-input (or a size error that is checked first),
// and neither the host nor the guest traps.
func TestHostilePointers(t *testing.T) {
	w := newWorld(t)
	g := w.guest(Config{Grants: Grants{Publish: []string{"*", "a.*"}, Subscribe: []string{"*"}}})
	h := g.mustSubscribe("s")
	size := uint64(g.mod.Memory().Size())
	tp, tl := g.put("a.b")
	pp, pl := g.put(`{}`)
	const (
		wrap  = 0xFFFFFFFF
		edge  = 0xFFFFFFFE
		zero  = 0
		valid = 2048
	)
	end := size // first byte past memory
	tests := []struct {
		name string
		fn   string
		args []uint64
		want abi.Code
	}{
		{"publish topic past end", "call_publish", []uint64{end, 3, pp, pl}, abi.InvalidInput},
		{"publish topic wraps", "call_publish", []uint64{wrap, 2, pp, pl}, abi.InvalidInput},
		{"publish topic len huge", "call_publish", []uint64{tp, wrap, pp, pl}, abi.InvalidInput},
		{"publish payload past end", "call_publish", []uint64{tp, tl, end - 1, 2}, abi.InvalidInput},
		{"publish payload wraps", "call_publish", []uint64{tp, tl, edge, 4}, abi.InvalidInput},
		{"publish payload len huge", "call_publish", []uint64{tp, tl, pp, wrap}, abi.InvalidInput},             // range checks first (ABI §1), not rate-limited
		{"publish-as principal wraps", "call_publish_as", []uint64{tp, tl, pp, pl, wrap, 3}, abi.InvalidInput}, // before the uplink check
		{"subscribe pattern wraps", "call_subscribe", []uint64{wrap, 2, valid}, abi.InvalidInput},
		{"subscribe handle out past end", "call_subscribe", []uint64{tp, 1, end - 2}, abi.InvalidInput},
		{"subscribe handle out wraps", "call_subscribe", []uint64{tp, 1, wrap}, abi.InvalidInput},
		{"poll buffer past end", "call_poll", []uint64{uint64(h), end - 10, 100, valid}, abi.InvalidInput},
		{"poll buffer wraps", "call_poll", []uint64{uint64(h), wrap, 100, valid}, abi.InvalidInput},
		{"poll len out wraps", "call_poll", []uint64{uint64(h), valid, 100, wrap}, abi.InvalidInput},
		{"recv buffer cap huge", "call_recv", []uint64{uint64(h), 0, valid, wrap, valid + 512}, abi.InvalidInput},
		{"wait handles wrap", "call_wait", []uint64{wrap, 2, 0, valid, 1, valid + 8}, abi.InvalidInput},
		{"wait handles count huge", "call_wait", []uint64{valid, wrap, 0, valid, 1, valid + 8}, abi.InvalidInput},
		{"wait handles count over the limit", "call_wait", []uint64{valid, abi.MaxWaitHandles + 1, 0, valid, 4, valid + 8}, abi.TooLarge},
		{"wait ready cap huge", "call_wait", []uint64{valid, 1, 0, valid, wrap, valid + 8}, abi.InvalidInput},
		{"bindings buffer past end", "call_bindings", []uint64{end, 4, valid}, abi.InvalidInput},
		{"log message wraps", "call_log", []uint64{2, wrap, 10}, abi.InvalidInput},
		{"log message too long", "call_log", []uint64{2, zero, MaxLogBytes + 1}, abi.TooLarge},
		{"log bad level", "call_log", []uint64{9, zero, 1}, abi.InvalidInput},
		{"caller buffer wraps", "call_caller", []uint64{wrap, 64, valid}, abi.InvalidInput},
		{"random past end", "call_random", []uint64{end - 10, 11}, abi.InvalidInput},
		{"random too many", "call_random", []uint64{zero, abi.MaxRandomBytes + 1}, abi.TooLarge},
		{"config key wraps", "call_config", []uint64{wrap, 4, valid, 16, valid + 64}, abi.InvalidInput},
		{"config key too long", "call_config", []uint64{zero, 1 << 20, valid, 16, valid + 64}, abi.TooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := g.mod.ExportedFunction(tt.fn).Call(g.ctx, tt.args...)
			if err != nil {
				t.Fatalf("call trapped: %v", err)
			}
			if got := abi.Code(api.DecodeI32(res[0])); got != tt.want {
				t.Fatalf("%s%v = %v, want %v", tt.fn, tt.args, got, tt.want)
			}
		})
	}
}

// exportArity maps each forwarding export of hostcalls.wasm to its parameter kinds (false:
// i32, true: i64).
var exportArity = []struct {
	name string
	i64  []bool
}{
	{"call_publish", []bool{false, false, false, false}},
	{"call_publish_as", []bool{false, false, false, false, false, false}},
	{"call_subscribe", []bool{false, false, false}},
	{"call_poll", []bool{false, false, false, false}},
	{"call_recv", []bool{false, true, false, false, false}},
	{"call_wait", []bool{false, false, true, false, false, false}},
	{"call_drop", []bool{false}},
	{"call_bindings", []bool{false, false, false}},
	{"call_log", []bool{false, false, false}},
	{"call_ready", nil},
	{"call_caller", []bool{false, false, false}},
	{"call_sleep", []bool{true}},
	{"call_random", []bool{false, false}},
	{"call_config", []bool{false, false, false, false, false}},
}

// FuzzHostCalls calls a host function of a real instance with arbitrary arguments: no
// combination may panic the host, trap the guest, or return a code outside the ABI table.
// Timeouts are bounded so a fuzz iteration never blocks for long.
func FuzzHostCalls(f *testing.F) {
	f.Add(uint8(0), uint32(0), uint32(3), uint32(8), uint32(2), uint32(0), uint32(0), int64(0))
	f.Add(uint8(2), uint32(0), uint32(1), uint32(64), uint32(0), uint32(0), uint32(0), int64(0))
	f.Add(uint8(3), uint32(1), uint32(0xFFFFFFFF), uint32(10), uint32(0), uint32(0), uint32(0), int64(0))
	f.Add(uint8(4), uint32(1), uint32(100), uint32(4096), uint32(0xFFFFFFF0), uint32(0), uint32(0), int64(-5))
	f.Add(uint8(5), uint32(0), uint32(129), uint32(0), uint32(4), uint32(0xFFFFFFFF), uint32(8), int64(1))
	f.Add(uint8(11), uint32(0), uint32(0), uint32(0), uint32(0), uint32(0), uint32(0), int64(1<<62))
	f.Add(uint8(12), uint32(65530), uint32(4096), uint32(0), uint32(0), uint32(0), uint32(0), int64(0))
	f.Add(uint8(13), uint32(0), uint32(0xFFFFFFFF), uint32(1), uint32(1), uint32(1), uint32(0), int64(0))
	w := newWorld(f)
	g := w.guest(Config{Grants: Grants{Publish: []string{"*"}, Subscribe: []string{"*"}, Uplink: true}, Config: map[string]string{"k": "v"}})
	// Some state for the calls to find: a subscription with a message and a valid topic.
	h := g.mustSubscribe("f")
	g.mod.Memory().WriteString(0, "f")
	g.publish("f", `1`)
	_ = h
	f.Fuzz(func(t *testing.T, which uint8, a, b, c, d, e, x uint32, n int64) {
		exp := exportArity[int(which)%len(exportArity)]
		u32s := []uint32{a, b, c, d, e, x}
		args := make([]uint64, len(exp.i64))
		j := 0
		for i, is64 := range exp.i64 {
			if is64 {
				args[i] = uint64(n % 3) // at most 2 ms (recv, wait) or 2 ns (sleep)
				continue
			}
			args[i] = uint64(u32s[j])
			j++
		}
		res, err := g.mod.ExportedFunction(exp.name).Call(g.ctx, args...)
		if err != nil {
			t.Fatalf("%s%v trapped: %v", exp.name, args, err)
		}
		if code := abi.Code(api.DecodeI32(res[0])); code < abi.OK || code > abi.NotFound {
			t.Fatalf("%s%v returned %d, outside the ABI codes", exp.name, args, code)
		}
		// Keep the instance usable: drop subscriptions the fuzzer created.
		if g.in.Subscriptions() > 64 {
			g.in.Release(g.ctx)
			g.in.mu.Lock()
			g.in.released = false
			g.in.mu.Unlock()
		}
	})
}
