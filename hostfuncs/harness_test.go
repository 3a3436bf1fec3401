package hostfuncs

import (
	"context"
	"encoding/binary"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/internal/actorsys"
	"github.com/astrid-actors/astrid-actors/internal/leakcheck"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakcheck.Options()...)
}

// world is a wazero runtime with the host modules, the hostcalls.wasm fixture compiled, and a
// bus: everything real except the actors, which these tests do not need.
type world struct {
	t        testing.TB
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	bus      *bus.Bus
	logs     *observer.ObservedLogs
	logger   *zap.Logger
	clock    *skewClock // the bus's clock, which the rate limiter reads
}

// skewClock is the real clock plus an offset that tests advance, so a rate-limit window can
// pass without waiting for it.
type skewClock struct{ offset atomic.Int64 }

func (c *skewClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// Advance moves the clock forward by d.
func (c *skewClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// whenYielding runs f on a goroutine once the guest is inside a yielding host call (a blocking
// recv, wait or sleep), so f's event arrives while the guest waits (or after 10 s, when the
// guest never yields and the test fails on its own).
func (g *guest) whenYielding(f func()) {
	go func() {
		deadline := time.Now().Add(10 * time.Second)
		for !g.in.Yielding() && time.Now().Before(deadline) {
			runtime.Gosched()
		}
		f()
	}()
}

func newWorld(t testing.TB) *world {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(true))
	if err := Register(ctx, rt); err != nil {
		t.Fatal(err)
	}
	wasm, err := os.ReadFile("../testdata/wat/hostcalls.wasm")
	if err != nil {
		t.Fatal(err)
	}
	compiled, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	system := actorsys.New(nil)
	clock := &skewClock{}
	b, err := bus.New(system, bus.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	w := &world{t: t, rt: rt, compiled: compiled, bus: b, logs: logs, logger: zap.New(core), clock: clock}
	t.Cleanup(func() {
		_ = b.Close(ctx)
		system.Shutdown()
		_ = rt.Close(ctx)
	})
	return w
}

// guest is one instance of hostcalls.wasm with its host state.
type guest struct {
	t    testing.TB
	w    *world
	mod  api.Module
	in   *Instance
	ctx  context.Context
	stop context.CancelFunc
	next uint32 // bump allocator for test data in guest memory
}

func (w *world) guest(cfg Config) *guest {
	w.t.Helper()
	return w.guestOf(w.compiled, cfg)
}

// compile compiles another fixture of testdata/wat for guestOf.
func (w *world) compile(path string) wazero.CompiledModule {
	w.t.Helper()
	wasm, err := os.ReadFile("../testdata/wat/" + path)
	if err != nil {
		w.t.Fatal(err)
	}
	compiled, err := w.rt.CompileModule(context.Background(), wasm)
	if err != nil {
		w.t.Fatal(err)
	}
	return compiled
}

// guestOf instantiates compiled with host state cfg (defaults as for guest).
func (w *world) guestOf(compiled wazero.CompiledModule, cfg Config) *guest {
	w.t.Helper()
	if cfg.InstanceID == uuid.Nil {
		cfg.InstanceID = uuid.New()
	}
	if cfg.CapsuleID == "" {
		cfg.CapsuleID = "test"
	}
	cfg.Bus = w.bus
	if cfg.Logger == nil {
		cfg.Logger = w.logger
	}
	in := NewInstance(cfg)
	ctx, cancel := context.WithCancel(WithInstance(context.Background(), in))
	mod, err := w.rt.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		w.t.Fatal(err)
	}
	g := &guest{t: w.t, w: w, mod: mod, in: in, ctx: ctx, stop: cancel, next: 1024}
	w.t.Cleanup(func() {
		in.Release(context.Background())
		cancel()
		_ = mod.Close(context.Background())
	})
	return g
}

// call invokes an export of the fixture and returns its i32 result as an abi.Code.
func (g *guest) call(name string, args ...uint64) abi.Code {
	g.t.Helper()
	res, err := g.mod.ExportedFunction(name).Call(g.ctx, args...)
	if err != nil {
		g.t.Fatalf("%s: %v", name, err)
	}
	return abi.Code(api.DecodeI32(res[0]))
}

// alloc reserves n bytes of guest memory (8-aligned) and returns the offset.
func (g *guest) alloc(n uint32) uint32 {
	p := g.next
	g.next += (n + 7) &^ 7
	if g.next > g.mod.Memory().Size() {
		g.t.Fatalf("test data does not fit guest memory")
	}
	return p
}

// put writes s to guest memory and returns its (ptr, len) as call arguments.
func (g *guest) put(s string) (uint64, uint64) {
	p := g.alloc(uint32(len(s)))
	if !g.mod.Memory().WriteString(p, s) {
		g.t.Fatal("write guest memory")
	}
	return uint64(p), uint64(len(s))
}

func (g *guest) u32(p uint32) uint32 {
	v, ok := g.mod.Memory().ReadUint32Le(p)
	if !ok {
		g.t.Fatal("read guest memory")
	}
	return v
}

func (g *guest) bytes(p, n uint32) []byte {
	v, ok := g.mod.Memory().Read(p, n)
	if !ok {
		g.t.Fatal("read guest memory")
	}
	return append([]byte(nil), v...)
}

func (g *guest) publish(topic, payload string) abi.Code {
	tp, tl := g.put(topic)
	pp, pl := g.put(payload)
	return g.call("call_publish", tp, tl, pp, pl)
}

func (g *guest) publishAs(topic, payload, principal string) abi.Code {
	tp, tl := g.put(topic)
	pp, pl := g.put(payload)
	rp, rl := g.put(principal)
	return g.call("call_publish_as", tp, tl, pp, pl, rp, rl)
}

func (g *guest) subscribe(pattern string) (uint32, abi.Code) {
	pp, pl := g.put(pattern)
	out := g.alloc(4)
	c := g.call("call_subscribe", pp, pl, uint64(out))
	return g.u32(out), c
}

func (g *guest) mustSubscribe(pattern string) uint32 {
	g.t.Helper()
	h, c := g.subscribe(pattern)
	if c != abi.OK {
		g.t.Fatalf("subscribe %q = %v", pattern, c)
	}
	return h
}

// envelopeResult is a poll or recv result.
type envelopeResult struct {
	code abi.Code
	n    uint32 // len_out
	env  abi.Envelope
}

func (g *guest) poll(handle uint32, bufCap uint32) envelopeResult {
	buf, out := g.alloc(bufCap), g.alloc(4)
	c := g.call("call_poll", uint64(handle), uint64(buf), uint64(bufCap), uint64(out))
	return g.envelope(c, buf, out)
}

func (g *guest) recv(handle uint32, timeout time.Duration, bufCap uint32) envelopeResult {
	buf, out := g.alloc(bufCap), g.alloc(4)
	c := g.call("call_recv", uint64(handle), uint64(timeout.Milliseconds()), uint64(buf), uint64(bufCap), uint64(out))
	return g.envelope(c, buf, out)
}

func (g *guest) envelope(c abi.Code, buf, out uint32) envelopeResult {
	g.t.Helper()
	r := envelopeResult{code: c, n: g.u32(out)}
	if c == abi.OK {
		env, err := abi.DecodeEnvelope(g.bytes(buf, r.n))
		if err != nil {
			g.t.Fatalf("decode envelope: %v", err)
		}
		r.env = env
	}
	return r
}

func le32(vs ...uint32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint32(b[4*i:], v)
	}
	return b
}

var securityField = zapcoreBool("security_event", true)

// callI64 invokes an export returning i64.
func (g *guest) callI64(name string, args ...uint64) uint64 {
	g.t.Helper()
	res, err := g.mod.ExportedFunction(name).Call(g.ctx, args...)
	if err != nil {
		g.t.Fatalf("%s: %v", name, err)
	}
	return res[0]
}
