package hostfuncs

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/bus"
)

// TestMemoryGrowBetweenCalls: each host call sees the guest memory as it is when the call
// starts. A guest that grows its memory (memory.grow) between two publishes can publish from
// the new pages at once, and the range checks follow the new size.
func TestMemoryGrowBetweenCalls(t *testing.T) {
	w := newWorld(t)
	g := w.guestOf(w.compile("hostloop.wasm"), Config{Grants: Grants{Publish: []string{"t"}}})
	sub, err := w.bus.Subscribe(context.Background(), "t", bus.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mem := g.mod.Memory()
	if !mem.WriteString(0, "t") {
		t.Fatal("write topic")
	}
	publish := func(ptr, n uint32) abi.Code {
		t.Helper()
		return g.call("publish_loop", 1, 0, 1, uint64(ptr), uint64(n))
	}
	old := mem.Size()
	for _, tc := range []struct{ ptr, n uint32 }{{old, 2}, {old - 1, 2}} {
		if c := publish(tc.ptr, tc.n); c != abi.InvalidInput {
			t.Fatalf("payload [%d, %d) beyond the memory of %d bytes: %v", tc.ptr, tc.ptr+tc.n, old, c)
		}
	}
	if pages := g.call("grow", 1); pages != abi.Code(old/65536) {
		t.Fatalf("memory.grow returned %d, want %d", pages, old/65536)
	}
	grown := mem.Size()
	if grown != old+65536 || !mem.Write(old-1, []byte("42")) || !mem.Write(grown-2, []byte("17")) {
		t.Fatalf("memory is %d bytes after growing %d by one page", grown, old)
	}
	// [old-1, old+1) straddles the old end; [grown-2, grown) is the end of the new page.
	for _, tc := range []struct {
		ptr     uint32
		payload string
	}{{old - 1, "42"}, {grown - 2, "17"}} {
		if c := publish(tc.ptr, 2); c != abi.OK {
			t.Fatalf("payload at %d after memory.grow: %v", tc.ptr, c)
		}
		msgs := sub.Mailbox().Drain(nil, 1<<20, func(*bus.Message) bool { return true }).Messages
		if len(msgs) != 1 || string(msgs[0].Payload) != tc.payload {
			t.Fatalf("delivered %v, want one message %q", msgs, tc.payload)
		}
	}
	if c := publish(grown-1, 2); c != abi.InvalidInput {
		t.Fatalf("payload beyond the grown memory: %v", c)
	}
}

// TestMemoryView: the checks and accesses of a view over a real module's memory, and a view
// taken after the memory grew reaches the new page (the host side of the same rule).
func TestMemoryView(t *testing.T) {
	w := newWorld(t)
	g := w.guestOf(w.compile("hostloop.wasm"), Config{})
	size := g.mod.Memory().Size()
	m := memoryOf(g.mod)
	for _, tc := range []struct {
		ptr, n uint32
		in     bool
	}{
		{0, 0, true}, {0, size, true}, {size, 0, true}, {size - 4, 4, true},
		{size, 1, false}, {size - 3, 4, false}, {1, size, false}, {^uint32(0), 2, false}, {2, ^uint32(0), false},
	} {
		if got := m.inRange(tc.ptr, tc.n); got != tc.in {
			t.Errorf("inRange(%d, %d) = %v, want %v", tc.ptr, tc.n, got, tc.in)
		}
		if v, ok := m.view(tc.ptr, tc.n); ok != tc.in || ok && (uint32(len(v)) != tc.n || cap(v) != len(v)) {
			t.Errorf("view(%d, %d) = %d bytes (cap %d), %v", tc.ptr, tc.n, len(v), cap(v), ok)
		}
	}
	if !m.putU32(size-4, 0xdeadbeef) || m.putU32(size-3, 1) {
		t.Fatal("putU32 at the end of the memory")
	}
	if !m.write(8, []byte("abc")) || m.write(size-2, []byte("abc")) {
		t.Fatal("write at the end of the memory")
	}
	if v, _ := m.u32s(size-4, 1); len(v) != 1 || v[0] != 0xdeadbeef {
		t.Fatalf("u32s = %x", v)
	}
	if s, _ := m.str(8, 3); s != "abc" {
		t.Fatalf("str = %q", s)
	}
	if _, ok := g.mod.Memory().Grow(1); !ok {
		t.Fatal("grow")
	}
	grown := memoryOf(g.mod)
	if !grown.putU32(size, 7) {
		t.Fatal("a view taken after the growth does not reach the new page")
	}
	if b, ok := g.mod.Memory().Read(size, 4); !ok || binary.LittleEndian.Uint32(b) != 7 {
		t.Fatalf("the new page holds %v", b)
	}
	if b, _ := g.mod.Memory().Read(8, 3); string(b) != "abc" {
		t.Fatalf("the old pages hold %q after the growth", b)
	}
	var none guestMemory // a module without memory: every check fails
	if none.inRange(0, 0) || none.putU32(0, 1) || none.write(0, nil) {
		t.Fatal("the zero view passed a check")
	}
}

// TestMemoryViewPerModule: an instance's host calls from two modules of the same memory size
// each see their own module's memory (the view of one call is never another module's).
func TestMemoryViewPerModule(t *testing.T) {
	w := newWorld(t)
	compiled := w.compile("hostloop.wasm")
	g := w.guestOf(compiled, Config{Grants: Grants{Publish: []string{"t"}}})
	other, err := w.rt.InstantiateModule(g.ctx, compiled, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close(context.Background()) })
	sub, err := w.bus.Subscribe(context.Background(), "t", bus.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		mod     api.Module
		payload string
	}{{g.mod, "1"}, {other, "2"}, {g.mod, "1"}} {
		if !m.mod.Memory().WriteString(0, "t") || !m.mod.Memory().WriteString(64, m.payload) {
			t.Fatal("write guest memory")
		}
		res, err := m.mod.ExportedFunction("publish_loop").Call(g.ctx, 1, 0, 1, 64, 1)
		if err != nil || abi.Code(api.DecodeI32(res[0])) != abi.OK {
			t.Fatalf("publish: %v, %v", res, err)
		}
		msgs := sub.Mailbox().Drain(nil, 1<<20, func(*bus.Message) bool { return true }).Messages
		if len(msgs) != 1 || string(msgs[0].Payload) != m.payload {
			t.Fatalf("delivered %v, want one message %q", msgs, m.payload)
		}
	}
}
