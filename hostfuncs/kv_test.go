package hostfuncs

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/internal/kvstore"
	"github.com/astrid-actors/astrid-actors/kv"
)

// kvWorld is a world with a real store in a temp directory and the kvcalls.wasm fixture.
type kvWorld struct {
	*world
	store    *kvstore.Bolt
	compiled wazero.CompiledModule
}

func newKVWorld(t *testing.T) *kvWorld {
	t.Helper()
	w := newWorld(t)
	st, err := kvstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	wasm, err := os.ReadFile("../testdata/wat/kvcalls.wasm")
	if err != nil {
		t.Fatal(err)
	}
	compiled, err := w.rt.CompileModule(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	return &kvWorld{world: w, store: st, compiled: compiled}
}

// kvGuest instantiates kvcalls.wasm as capsule id with the world's store.
func (w *kvWorld) kvGuest(id string, quota int64) *guest {
	w.t.Helper()
	in := NewInstance(Config{CapsuleID: id, InstanceID: uuid.New(), Bus: w.bus, Logger: w.logger, KV: w.store, KVQuotaBytes: quota})
	ctx, cancel := context.WithCancel(WithInstance(context.Background(), in))
	mod, err := w.rt.InstantiateModule(ctx, w.compiled, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() {
		cancel()
		_ = mod.Close(context.Background())
	})
	return &guest{t: w.t, w: w.world, mod: mod, in: in, ctx: ctx, stop: cancel, next: 1024}
}

func (g *guest) kvSet(key, val string) abi.Code {
	kp, kl := g.put(key)
	vp, vl := g.put(val)
	return g.call("call_kv_set", kp, kl, vp, vl)
}

// kvGet returns the value, the code and the length written to len_out.
func (g *guest) kvGet(key string, bufCap uint32) (string, abi.Code, uint32) {
	kp, kl := g.put(key)
	buf, out := g.alloc(bufCap), g.alloc(4)
	g.mod.Memory().WriteUint32Le(out, 0xdeadbeef)
	c := g.call("call_kv_get", kp, kl, uint64(buf), uint64(bufCap), uint64(out))
	n := g.u32(out)
	if c != abi.OK {
		return "", c, n
	}
	return string(g.bytes(buf, n)), c, n
}

func (g *guest) kvCAS(key, expected string, present bool, val string) abi.Code {
	kp, kl := g.put(key)
	ep, el := g.put(expected)
	vp, vl := g.put(val)
	p := uint64(0)
	if present {
		p = 1
	}
	return g.call("call_kv_cas", kp, kl, ep, el, p, vp, vl)
}

func (g *guest) kvClear(prefix string) (uint64, abi.Code) {
	pp, pl := g.put(prefix)
	out := g.alloc(8)
	c := g.call("call_kv_clear", pp, pl, uint64(out))
	return binary.LittleEndian.Uint64(g.bytes(out, 8)), c
}

type kvPage struct {
	code   abi.Code
	n      uint32
	keys   []string
	cursor string
}

func (g *guest) kvList(prefix, cursor string, limit, bufCap uint32) kvPage {
	g.t.Helper()
	pp, pl := g.put(prefix)
	cp, cl := g.put(cursor)
	buf, out := g.alloc(bufCap), g.alloc(4)
	c := g.call("call_kv_list", pp, pl, cp, cl, uint64(limit), uint64(buf), uint64(bufCap), uint64(out))
	r := kvPage{code: c, n: g.u32(out)}
	if c != abi.OK {
		return r
	}
	b := g.bytes(buf, r.n)
	count, clen := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:])
	r.cursor = string(b[8 : 8+clen])
	b = b[8+clen:]
	for range count {
		l := binary.LittleEndian.Uint32(b)
		r.keys = append(r.keys, string(b[4:4+l]))
		b = b[4+l:]
	}
	if len(b) != 0 {
		g.t.Fatalf("page has %d trailing bytes", len(b))
	}
	return r
}

func TestKVCalls(t *testing.T) {
	w := newKVWorld(t)
	g := w.kvGuest("cap", 0)
	memSize := uint64(g.mod.Memory().Size())

	if c := g.kvSet("k", "hello"); c != abi.OK {
		t.Fatalf("set = %v", c)
	}
	if v, c, n := g.kvGet("k", 64); c != abi.OK || v != "hello" || n != 5 {
		t.Fatalf("get = %q, %v, %d", v, c, n)
	}
	if _, c, n := g.kvGet("k", 4); c != abi.BufferTooSmall || n != 5 {
		t.Fatalf("get into 4 bytes = %v, len_out %d; want buffer-too-small, 5", c, n)
	}
	if _, c, n := g.kvGet("missing", 64); c != abi.NotFound || n != 0 {
		t.Fatalf("get missing = %v, len_out %d; want not-found, 0", c, n)
	}

	bp, bl := g.put(strings.Repeat("x", kv.MaxValueBytes+1)) // once: memory is 1.25 MiB
	kp, kl := g.put("big")
	cases := []struct {
		name string
		call func() abi.Code
		want abi.Code
	}{
		{"set empty key", func() abi.Code { return g.kvSet("", "v") }, abi.InvalidInput},
		{"set NUL key", func() abi.Code { return g.kvSet("a\x00", "v") }, abi.InvalidInput},
		{"set control key", func() abi.Code { return g.kvSet("a\tb", "v") }, abi.InvalidInput},
		{"set 257-byte key", func() abi.Code { return g.kvSet(strings.Repeat("k", 257), "v") }, abi.InvalidInput},
		{"set invalid UTF-8", func() abi.Code { return g.kvSet("\xc3\x28", "v") }, abi.InvalidInput},
		{"set 1 MiB + 1", func() abi.Code { return g.call("call_kv_set", kp, kl, bp, bl) }, abi.TooLarge},
		{"set 1 MiB", func() abi.Code { return g.call("call_kv_set", kp, kl, bp, bl-1) }, abi.OK},
		// Range checks come first: a value length past the end of memory is invalid-input,
		// not too-large, even with an invalid key.
		{"set value out of memory", func() abi.Code { return g.call("call_kv_set", 0, 0, 0, memSize+1) }, abi.InvalidInput},
		{"set key out of memory", func() abi.Code { return g.call("call_kv_set", memSize-2, 3, 0, 0) }, abi.InvalidInput},
		{"get len_out out of memory", func() abi.Code {
			kp, kl := g.put("k")
			return g.call("call_kv_get", kp, kl, 0, 0, memSize-3)
		}, abi.InvalidInput},
		{"get buffer out of memory", func() abi.Code {
			kp, kl := g.put("k")
			return g.call("call_kv_get", kp, kl, memSize-10, 11, 0)
		}, abi.InvalidInput},
		{"delete", func() abi.Code { return g.kvDelete("big") }, abi.OK},
		{"delete missing", func() abi.Code { return g.kvDelete("big") }, abi.OK},
		{"delete invalid key", func() abi.Code { return g.kvDelete("a\x01") }, abi.InvalidInput},
		{"cas absent on present", func() abi.Code { return g.kvCAS("k", "", false, "x") }, abi.CASMismatch},
		{"cas wrong value", func() abi.Code { return g.kvCAS("k", "hell", true, "x") }, abi.CASMismatch},
		{"cas right value", func() abi.Code { return g.kvCAS("k", "hello", true, "world") }, abi.OK},
		{"cas create", func() abi.Code { return g.kvCAS("new", "ignored", false, "1") }, abi.OK},
		{"cas expect_present 2", func() abi.Code {
			kp, kl := g.put("k")
			return g.call("call_kv_cas", kp, kl, 0, 0, 2, 0, 0)
		}, abi.InvalidInput},
		{"cas too large", func() abi.Code {
			kp, kl := g.put("k")
			return g.call("call_kv_cas", kp, kl, 0, 0, 0, bp, bl)
		}, abi.TooLarge},
		{"cas expected out of memory", func() abi.Code {
			kp, kl := g.put("k")
			return g.call("call_kv_cas", kp, kl, 0, memSize+1, 1, 0, 0)
		}, abi.InvalidInput},
		{"clear count_out out of memory", func() abi.Code { return g.call("call_kv_clear", 0, 0, memSize-7) }, abi.InvalidInput},
		{"clear invalid prefix", func() abi.Code { _, c := g.kvClear("\x00"); return c }, abi.InvalidInput},
		{"list cursor invalid", func() abi.Code { return g.kvList("", "\x7f", 0, 64).code }, abi.InvalidInput},
	}
	for _, c := range cases {
		if got := c.call(); got != c.want {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
	if v, _, _ := g.kvGet("k", 64); v != "world" {
		t.Fatalf("after the cases k = %q, want world (a failed cas changed it?)", v)
	}
	if page := g.kvList("", "", 0, 256); strings.Join(page.keys, ",") != "k,new" {
		t.Fatalf("keys after the cases: %v (a failed call left something)", page.keys)
	}
	if n, c := g.kvClear(""); c != abi.OK || n != 2 {
		t.Fatalf("clear = %d, %v; want 2", n, c)
	}
}

func (g *guest) kvDelete(key string) abi.Code {
	kp, kl := g.put(key)
	return g.call("call_kv_delete", kp, kl)
}

func TestKVListPages(t *testing.T) {
	w := newKVWorld(t)
	g := w.kvGuest("cap", 0)
	for _, k := range []string{"a/1", "a/22", "a/333", "b"} {
		if c := g.kvSet(k, "v"); c != abi.OK {
			t.Fatal(c)
		}
	}
	cases := []struct {
		name           string
		prefix, cursor string
		limit, cap     uint32
		want           abi.Code
		n              uint32
		keys           string
		next           string
	}{
		{name: "all", prefix: "a/", cap: 256, n: 8 + 7 + 8 + 9, keys: "a/1,a/22,a/333"},
		{name: "limit 2", prefix: "a/", limit: 2, cap: 256, n: 8 + 4 + 7 + 8, keys: "a/1,a/22", next: "a/22"},
		{name: "after cursor", prefix: "a/", cursor: "a/22", cap: 256, n: 8 + 9, keys: "a/333"},
		{name: "cut to fit", prefix: "a/", cap: 8 + 7 + 8 + 4, n: 8 + 7 + 8 + 4, keys: "a/1,a/22", next: "a/22"},
		{name: "one key fits", prefix: "a/", cap: 8 + 7 + 3, n: 8 + 7 + 3, keys: "a/1", next: "a/1"},
		{name: "not even one key", prefix: "a/", cap: 8 + 7 + 2, want: abi.BufferTooSmall, n: 8 + 7 + 3},
		{name: "empty page", prefix: "zz", cap: 8, n: 8},
		{name: "empty page, no room", prefix: "zz", cap: 7, want: abi.BufferTooSmall, n: 8},
		{name: "limit over 1024", prefix: "b", limit: 5000, cap: 64, n: 8 + 5, keys: "b"},
	}
	for _, c := range cases {
		p := g.kvList(c.prefix, c.cursor, c.limit, c.cap)
		if p.code != c.want || p.n != c.n || strings.Join(p.keys, ",") != c.keys || p.cursor != c.next {
			t.Errorf("%s: %v len %d keys %v next %q; want %v len %d keys %s next %q",
				c.name, p.code, p.n, p.keys, p.cursor, c.want, c.n, c.keys, c.next)
		}
	}
}

// TestKVPagingThroughHost walks 10 000 keys through kv-list-keys-page with default limits
// and with a buffer that holds only a few keys per page.
func TestKVPagingThroughHost(t *testing.T) {
	w := newKVWorld(t)
	g := w.kvGuest("pager", 0)
	ns := kv.Namespace{Name: kv.NamespaceName(DefaultOwner, "pager")}
	const n = 10_000
	for i := 0; i < n; i += 100 { // loaded from Go concurrently, listed through the guest
		var wg sync.WaitGroup
		for j := i; j < i+100; j++ {
			wg.Go(func() {
				if err := w.store.Set(context.Background(), ns, fmt.Sprintf("k%05d", j), nil); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	for _, c := range []struct{ limit, cap, pages uint32 }{
		{0, 16 << 10, 10}, // limit 0 is 1024 keys a page
		{5000, 16 << 10, 10},
		{0, 100, 1250}, // 8 keys (8 + 8×10 bytes + a 6-byte cursor) a page
		{7, 1 << 10, 1429},
	} {
		got, cursor, pages := 0, "", 0
		for {
			g.next = 1024 // reuse the scratch memory
			p := g.kvList("k", cursor, c.limit, c.cap)
			if p.code != abi.OK {
				t.Fatalf("limit %d cap %d: %v", c.limit, c.cap, p.code)
			}
			for _, k := range p.keys {
				if k != fmt.Sprintf("k%05d", got) {
					t.Fatalf("key %d = %q", got, k)
				}
				got++
			}
			pages++
			if p.cursor == "" {
				break
			}
			cursor = p.cursor
		}
		if got != n || pages != int(c.pages) {
			t.Fatalf("limit %d cap %d: %d keys in %d pages, want %d in %d", c.limit, c.cap, got, pages, n, c.pages)
		}
	}
}

// TestKVNamespaces: capsules never see each other's keys, whatever bytes the keys hold, and
// each principal has its own namespace within a capsule.
func TestKVNamespaces(t *testing.T) {
	w := newKVWorld(t)
	a, b := w.kvGuest("a", 0), w.kvGuest("b", 0)
	hostile := []string{"k", ":capsule:b", "default:capsule:b", "../b/k", "/", "b:k", "\u00e9\u200b", strings.Repeat(":", 256)}
	for _, k := range hostile {
		if c := a.kvSet(k, "a's"); c != abi.OK {
			t.Fatalf("a set %q = %v", k, c)
		}
	}
	for _, k := range hostile {
		if _, c, _ := b.kvGet(k, 64); c != abi.NotFound {
			t.Fatalf("b sees a's %q: %v", k, c)
		}
	}
	if p := b.kvList("", "", 0, 4096); len(p.keys) != 0 {
		t.Fatalf("b lists %v", p.keys)
	}
	if n, _ := b.kvClear(""); n != 0 {
		t.Fatalf("b's clear deleted %d keys", n)
	}
	if c := b.kvCAS("k", "a's", true, "stolen"); c != abi.CASMismatch {
		t.Fatalf("b's cas on a's key = %v", c)
	}
	// Handling a message of principal alice, a works in alice's namespace.
	a.in.SetCaller(&bus.Message{Principal: bus.Verified("alice")})
	if _, c, _ := a.kvGet("k", 64); c != abi.NotFound {
		t.Fatalf("alice sees the owner's k: %v", c)
	}
	if c := a.kvSet("k", "alice's"); c != abi.OK {
		t.Fatal(c)
	}
	a.in.SetCaller(&bus.Message{Principal: bus.Principal{Kind: abi.PrincipalSystem}}) // system messages: the owner
	if v, _, _ := a.kvGet("k", 64); v != "a's" {
		t.Fatalf("owner's k = %q", v)
	}
	a.in.SetCaller(nil)
	got, err := w.store.Get(context.Background(), kv.Namespace{Name: "alice:capsule:a"}, "k")
	if err != nil || string(got) != "alice's" {
		t.Fatalf("alice:capsule:a/k = %q, %v", got, err)
	}
}

func TestKVQuota(t *testing.T) {
	w := newKVWorld(t)
	g := w.kvGuest("q", 64)
	if c := g.kvSet("k1", strings.Repeat("v", 30)); c != abi.OK { // 32
		t.Fatal(c)
	}
	if c := g.kvSet("k2", strings.Repeat("v", 30)); c != abi.OK { // 64
		t.Fatal(c)
	}
	if c := g.kvSet("k3", ""); c != abi.Quota {
		t.Fatalf("set over quota = %v", c)
	}
	if c := g.kvCAS("k1", strings.Repeat("v", 30), true, strings.Repeat("v", 31)); c != abi.Quota {
		t.Fatalf("growing cas over quota = %v", c)
	}
	if c := g.kvSet("k1", ""); c != abi.OK {
		t.Fatalf("shrinking = %v", c)
	}
	if c := g.kvSet("k3", strings.Repeat("v", 28)); c != abi.OK {
		t.Fatalf("set within the freed room = %v", c)
	}
	other := w.kvGuest("other", 64) // quotas are per namespace
	if c := other.kvSet("k", strings.Repeat("v", 63)); c != abi.OK {
		t.Fatal(c)
	}
}

// TestKVCASRaceTwoInstances increments one counter from two instances of the same capsule
// (one namespace), each on its own goroutine, through kv-get and kv-cas: no increment that
// returned ok is lost.
func TestKVCASRaceTwoInstances(t *testing.T) {
	w := newKVWorld(t)
	const each = 100
	guests := []*guest{w.kvGuest("counter", 0), w.kvGuest("counter", 0)}
	var wg sync.WaitGroup
	retries := make([]int, len(guests))
	for i, g := range guests {
		// Fixed scratch areas: this goroutine alone uses the instance.
		mem := g.mod.Memory()
		key, cur, next, lenOut := uint32(1024), uint32(2048), uint32(3072), uint32(4000)
		mem.WriteString(key, "n")
		get := g.mod.ExportedFunction("call_kv_get")
		cas := g.mod.ExportedFunction("call_kv_cas")
		wg.Go(func() {
			call := func(f api.Function, args ...uint64) abi.Code {
				res, err := f.Call(g.ctx, args...)
				if err != nil {
					t.Error(err)
					return abi.Unknown
				}
				return abi.Code(api.DecodeI32(res[0]))
			}
			for done := 0; done < each; {
				c := call(get, uint64(key), 1, uint64(cur), 32, uint64(lenOut))
				present, n := uint64(1), 0
				curLen, _ := mem.ReadUint32Le(lenOut)
				switch c {
				case abi.OK:
					v, _ := mem.Read(cur, curLen)
					n, _ = strconv.Atoi(string(v))
				case abi.NotFound:
					present, curLen = 0, 0
				default:
					t.Errorf("get = %v", c)
					return
				}
				s := strconv.Itoa(n + 1)
				mem.WriteString(next, s)
				switch c := call(cas, uint64(key), 1, uint64(cur), uint64(curLen), present, uint64(next), uint64(len(s))); c {
				case abi.OK:
					done++
				case abi.CASMismatch:
					retries[i]++
				default:
					t.Errorf("cas = %v", c)
					return
				}
			}
		})
	}
	wg.Wait()
	v, err := w.store.Get(context.Background(), kv.Namespace{Name: "default:capsule:counter"}, "n")
	if err != nil || string(v) != strconv.Itoa(2*each) {
		t.Fatalf("counter = %q, %v; want %d", v, err, 2*each)
	}
	t.Logf("retries after cas-mismatch: %v", retries)
}

func TestKVWithoutStore(t *testing.T) {
	w := newKVWorld(t)
	g := w.kvGuest("nostore", 0)
	g.in.cfg.KV = nil
	if c := g.kvSet("k", "v"); c != abi.Unknown {
		t.Fatalf("set without a store = %v, want unknown", c)
	}
	if w.logs.FilterMessage("kv store").Len() == 0 {
		t.Fatal("no log line says why")
	}
}

// TestKVHostilePointers calls every kv function with pointer/length pairs outside guest memory
// or wrapping around 2^32: each returns invalid-input, nothing traps, nothing is written.
func TestKVHostilePointers(t *testing.T) {
	w := newKVWorld(t)
	g := w.kvGuest("hostile", 0)
	end := uint64(g.mod.Memory().Size())
	kp, kl := g.put("key")
	const (
		wrap  = 0xFFFFFFFF
		edge  = 0xFFFFFFFE
		valid = 4096
	)
	tests := []struct {
		name string
		fn   string
		args []uint64
	}{
		{"get key wraps", "call_kv_get", []uint64{wrap, 2, valid, 16, valid + 64}},
		{"get key len huge", "call_kv_get", []uint64{kp, wrap, valid, 16, valid + 64}},
		{"get buffer past end", "call_kv_get", []uint64{kp, kl, end - 4, 16, valid + 64}},
		{"get len_out wraps", "call_kv_get", []uint64{kp, kl, valid, 16, edge}},
		{"set key past end", "call_kv_set", []uint64{end, 1, valid, 1}},
		{"set value wraps", "call_kv_set", []uint64{kp, kl, edge, 4}},
		{"set value len huge", "call_kv_set", []uint64{kp, kl, valid, wrap}},
		{"delete key wraps", "call_kv_delete", []uint64{wrap, 2}},
		{"cas key wraps", "call_kv_cas", []uint64{wrap, 2, valid, 0, 0, valid, 1}},
		{"cas expected wraps", "call_kv_cas", []uint64{kp, kl, edge, 8, 1, valid, 1}},
		{"cas new len huge", "call_kv_cas", []uint64{kp, kl, valid, 0, 0, valid, wrap}},
		{"list prefix wraps", "call_kv_list", []uint64{wrap, 2, valid, 0, 0, valid, 64, valid + 128}},
		{"list cursor past end", "call_kv_list", []uint64{kp, kl, end, 1, 0, valid, 64, valid + 128}},
		{"list buffer cap huge", "call_kv_list", []uint64{kp, kl, valid, 0, 0, valid, wrap, valid + 128}},
		{"list len_out past end", "call_kv_list", []uint64{kp, kl, valid, 0, 0, valid, 64, end - 3}},
		{"clear prefix wraps", "call_kv_clear", []uint64{edge, 4, valid}},
		{"clear count_out wraps", "call_kv_clear", []uint64{kp, kl, wrap}},
	}
	for _, tt := range tests {
		if got := g.call(tt.fn, tt.args...); got != abi.InvalidInput {
			t.Errorf("%s = %v, want invalid-input", tt.name, got)
		}
	}
	if u, err := w.store.Usage(context.Background(), g.in.kvNamespace()); err != nil || u != 0 {
		t.Fatalf("usage after hostile calls: %d, %v", u, err)
	}
}

// FuzzKVKeysStayInNamespace: whatever key bytes capsule a writes, capsule b (and a's other
// principal) cannot read, list, change or delete it. The seed corpus runs as a normal test.
func FuzzKVKeysStayInNamespace(f *testing.F) {
	for _, k := range []string{"k", ":", "default:capsule:b", ":capsule:b", "b", "\x00", "../b", "é", strings.Repeat("x", 256)} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		w := newKVWorld(t)
		a, b := w.kvGuest("a", 0), w.kvGuest("b", 0)
		valid := kv.ValidKey(key) == nil
		want := abi.InvalidInput
		if valid {
			want = abi.OK
		}
		if c := a.kvSet(key, "secret"); c != want {
			t.Fatalf("set %q = %v, want %v", key, c, want)
		}
		if !valid {
			return
		}
		if _, c, _ := b.kvGet(key, 64); c != abi.NotFound {
			t.Fatalf("b reads a's %q: %v", key, c)
		}
		if p := b.kvList("", "", 0, 1024); p.code != abi.OK || len(p.keys) != 0 {
			t.Fatalf("b lists %v (%v)", p.keys, p.code)
		}
		if c := b.kvCAS(key, "secret", true, "x"); c != abi.CASMismatch {
			t.Fatalf("b's cas on a's %q = %v", key, c)
		}
		b.kvDelete(key)
		if n, _ := b.kvClear(""); n != 0 {
			t.Fatalf("b cleared %d keys", n)
		}
		a.in.SetCaller(&bus.Message{Principal: bus.Verified("mallory")})
		if _, c, _ := a.kvGet(key, 64); c != abi.NotFound {
			t.Fatalf("another principal of a reads %q: %v", key, c)
		}
		a.in.SetCaller(nil)
		if v, c, _ := a.kvGet(key, 64); c != abi.OK || v != "secret" {
			t.Fatalf("a's %q = %q, %v after b's attempts", key, v, c)
		}
	})
}
