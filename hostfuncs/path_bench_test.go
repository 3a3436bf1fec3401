package hostfuncs

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/internal/actorsys"
	"github.com/astrid-actors/astrid-actors/internal/preempt"
)

// pathRig is one bus with one subscription on "bench.data" and one instance of hostloop.wasm
// allowed to publish there without rate limit, in a runtime configured like the capsule
// runtime's (compiler, the guest instrumented by internal/preempt, no WithCloseOnContextDone).
type pathRig struct {
	bus     *bus.Bus
	sub     *bus.Subscription
	dst     []*bus.Message
	in      *Instance
	mod     api.Module
	ctx     context.Context
	fns     map[string]api.Function
	tp, tl  uint32 // topic in guest memory
	pp, pl  uint32 // payload in guest memory
	payload []byte
}

func newPathRig(b *testing.B, payloadBytes int) *pathRig {
	return newObservedPathRig(b, payloadBytes, nil)
}

// newObservedPathRig is newPathRig with Config.Observe set to observe (nil: none).
func newObservedPathRig(b *testing.B, payloadBytes int, observe func(string, time.Duration)) *pathRig {
	b.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(false))
	b.Cleanup(func() { _ = rt.Close(ctx) })
	if err := errors.Join(Register(ctx, rt), preempt.Register(ctx, rt)); err != nil {
		b.Fatal(err)
	}
	wasm, err := os.ReadFile("../testdata/wat/hostloop.wasm")
	if err == nil {
		wasm, err = preempt.Instrument(wasm)
	}
	if err != nil {
		b.Fatal(err)
	}
	compiled, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		b.Fatal(err)
	}
	system := actorsys.New(nil)
	bs, err := bus.New(system, bus.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = bs.Close(ctx)
		system.Shutdown()
	})
	sub, err := bs.Subscribe(ctx, "bench.data", bus.SubscribeOptions{Mailbox: bus.MailboxLimits{Bytes: 256 << 20, PerPrincipal: 1 << 22}})
	if err != nil {
		b.Fatal(err)
	}
	in := NewInstance(Config{
		CapsuleID: "bench", InstanceID: uuid.New(), Bus: bs,
		Grants:  Grants{Publish: []string{"bench.data"}},
		Limits:  Limits{ThroughputBytesPerSec: 1 << 40, ThroughputMessagesPerSec: 1 << 40},
		Observe: observe,
	})
	ictx := WithInstance(ctx, in)
	mod, err := rt.InstantiateModule(ictx, compiled, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		in.Release(ctx)
		_ = mod.Close(ctx)
	})
	payload := []byte(`{"kind":"bench","pad":"` + strings.Repeat("x", payloadBytes-26) + `"}`)
	r := &pathRig{bus: bs, sub: sub, in: in, mod: mod, ctx: ictx, fns: map[string]api.Function{}, tp: 0, tl: 10, pp: 64, pl: uint32(len(payload)), payload: payload}
	if !mod.Memory().WriteString(r.tp, "bench.data") || !mod.Memory().Write(r.pp, payload) {
		b.Fatal("write guest memory")
	}
	return r
}

// drain empties the subscription, as its subscriber would, releasing every message.
func (r *pathRig) drain() {
	for {
		batch := r.sub.Mailbox().Drain(r.dst[:0], 1<<20, func(*bus.Message) bool { return true })
		for _, m := range batch.Messages {
			m.Release() // as a capsule's recv does: the bus reuses the message
		}
		clear(batch.Messages)
		r.dst = batch.Messages
		if len(batch.Messages) == 0 {
			return
		}
	}
}

// chunk is the number of messages published between two drains.
const chunk = 256

// measure publishes b.N messages, chunk by chunk with publish, draining after each chunk on the
// same goroutine, and reports the process's CPU time per message (publish, drain and GC) as
// cpu-ns/op: unlike ns/op, it does not grow when other processes take the CPU. The drains cost
// the same in every variant, so differences between variants are publish costs.
func (r *pathRig) measure(b *testing.B, publish func(n int)) {
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime(b)
	for i := 0; i < b.N; i += chunk {
		publish(min(chunk, b.N-i))
		r.drain()
	}
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
}

// call runs an export of hostloop.wasm and fails the benchmark unless it returns ok. The
// exports are looked up once (each lookup allocates a call engine).
func (r *pathRig) call(b *testing.B, name string, args ...uint64) {
	f := r.fns[name]
	if f == nil {
		f = r.mod.ExportedFunction(name)
		r.fns[name] = f
	}
	res, err := f.Call(r.ctx, args...)
	if err != nil {
		b.Fatal(err)
	}
	if c := abi.Code(api.DecodeI32(res[0])); c != abi.OK {
		b.Fatalf("%s: %v", name, c)
	}
}

// cpuTime returns the CPU time the process has used (user + system, every thread).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPublishPath splits the cost of one publish from a capsule: the bus alone from Go
// (Bus.Publish, Publisher.Publish), the host function's body called from Go (no wazero), the
// guest's publish loop (what a capsule pays), and the floors of the guest side: a loop
// iteration alone and a host call that does nothing (signal-ready). Every variant drains the
// subscription after each chunk of messages. ns/op and cpu-ns/op are per message.
func BenchmarkPublishPath(b *testing.B) {
	for _, size := range []int{128, 1024} {
		name := func(s string) string { return s + "/" + map[int]string{128: "128B", 1024: "1KiB"}[size] }
		b.Run(name("bus.Publish"), func(b *testing.B) {
			r := newPathRig(b, size)
			src := uuid.New()
			r.measure(b, func(n int) {
				for range n {
					if _, err := r.bus.Publish("bench.data", r.payload, src, bus.System()); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
		b.Run(name("Publisher.Publish"), func(b *testing.B) {
			r := newPathRig(b, size)
			p, src := r.bus.NewPublisher(), uuid.New()
			r.measure(b, func(n int) {
				for range n {
					if _, err := p.Publish("bench.data", r.payload, src, bus.System()); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
		b.Run(name("host-publish-from-Go"), func(b *testing.B) {
			r := newPathRig(b, size)
			mem := memoryOf(r.mod)
			r.measure(b, func(n int) {
				for range n {
					if c := r.in.abiPublish(mem, r.tp, r.tl, r.pp, r.pl); c != abi.OK {
						b.Fatal(c)
					}
				}
			})
		})
		b.Run(name("wasm-publish"), func(b *testing.B) {
			r := newPathRig(b, size)
			r.measure(b, func(n int) {
				r.call(b, "publish_loop", uint64(n), uint64(r.tp), uint64(r.tl), uint64(r.pp), uint64(r.pl))
			})
		})
	}
	b.Run("wasm-noop-host-call", func(b *testing.B) {
		r := newPathRig(b, 128)
		r.measure(b, func(n int) { r.call(b, "ready_loop", uint64(n)) })
	})
	b.Run("wasm-loop-iteration", func(b *testing.B) {
		r := newPathRig(b, 128)
		r.measure(b, func(n int) { r.call(b, "empty_loop", uint64(n)) })
	})
}

// Two bodies of pure computation, about 1 µs each here (the order of a publish), whose cost
// does not depend on where they are called from, so any difference between calling them from Go
// and from a guest is the call's: hostChain is one chain of dependent multiplications (latency
// bound: from Go, the next call's chain overlaps the previous one's tail in the CPU), hostScan
// a loop over a 4 KiB table whose iterations are independent.

// hostChain hashes p 6 times, one dependent multiplication per byte.
//
//go:noinline
func hostChain(p []byte) uint64 {
	h := uint64(1469598103934665603)
	for range 6 {
		for _, c := range p {
			h = (h ^ uint64(c)) * 1099511628211
		}
	}
	return h
}

// hostScan counts the odd bytes of 1 500 bytes of scanTable.
//
//go:noinline
func hostScan() uint64 {
	n := uint64(0)
	for i := range 1500 {
		n += uint64(scanTable[i&(len(scanTable)-1)] & 1)
	}
	return n
}

var scanTable = func() []byte {
	b := make([]byte, 4096)
	x := uint32(12345)
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}()

var computeSink uint64

// Bodies of the bare publish import.
const (
	bodyPublish = iota // abiPublish
	bodyChain          // hostChain
	bodyScan           // hostScan
)

// bareRig is hostloop.wasm in a second runtime whose imports are bare api.GoModuleFunc: the
// publish import calls the instance's abiPublish with the memory view taken once (no context
// lookup, no table, no memory view per call), or hostChain, or hostScan; signal-ready does
// nothing. With loopCheck the guest is instrumented by internal/preempt as the engine does
// (the loop check); without, it runs as written, with no loop check at all.
type bareRig struct {
	mod     api.Module
	publish api.Function
	ready   api.Function
	body    int // what the publish import runs: bodyPublish, bodyChain or bodyScan
}

func newBareRig(b *testing.B, r *pathRig, loopCheck bool) *bareRig {
	b.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(false))
	b.Cleanup(func() { _ = rt.Close(ctx) })
	if err := preempt.Register(ctx, rt); err != nil {
		b.Fatal(err)
	}
	br := &bareRig{}
	var mem guestMemory
	_, err := rt.NewHostModuleBuilder(abi.ModuleIPC).NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, _ api.Module, s []uint64) {
			switch br.body {
			case bodyChain:
				computeSink += hostChain(r.payload[:128])
				s[0] = 0
			case bodyScan:
				computeSink += hostScan()
				s[0] = 0
			default:
				s[0] = code(r.in.abiPublish(mem, u32(s[0]), u32(s[1]), u32(s[2]), u32(s[3])))
			}
		}), []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}).
		Export("publish").Instantiate(ctx)
	if err != nil {
		b.Fatal(err)
	}
	_, err = rt.NewHostModuleBuilder(abi.ModuleSys).NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, _ api.Module, s []uint64) { s[0] = 0 }),
			nil, []api.ValueType{i32}).
		Export("signal-ready").Instantiate(ctx)
	if err != nil {
		b.Fatal(err)
	}
	wasm, err := os.ReadFile("../testdata/wat/hostloop.wasm")
	if err == nil && loopCheck {
		wasm, err = preempt.Instrument(wasm)
	}
	if err != nil {
		b.Fatal(err)
	}
	br.mod, err = rt.Instantiate(ctx, wasm)
	if err != nil {
		b.Fatal(err)
	}
	if !br.mod.Memory().WriteString(r.tp, "bench.data") || !br.mod.Memory().Write(r.pp, r.payload) {
		b.Fatal("write guest memory")
	}
	mem = memoryOf(br.mod)
	br.publish, br.ready = br.mod.ExportedFunction("publish_loop"), br.mod.ExportedFunction("ready_loop")
	return br
}

// BenchmarkHostCallGap splits what a guest's publish costs over the same host function body
// called from Go. The variants run interleaved, gapChunk messages at a time in a new random
// order each round, on one locked OS thread, and each reports the median over its runs of that
// thread's CPU time per message (the drains between runs are not counted), so load on the
// machine moves every variant alike:
//
//   - Publisher.Publish: the bus alone;
//   - host-body-from-Go: Instance.abiPublish called from Go;
//   - wasm-publish: the guest loop calling the publish import as registered by Register;
//   - wasm-publish-bare: the same loop calling a bare import that runs abiPublish with the
//     memory view taken once — minus wasm-publish, it is the cost of this package's wrapper;
//   - wasm-publish-observed: wasm-publish with Config.Observe set (the metrics hook; the
//     runtime's Options.ObserveHostCall), minus wasm-publish the cost of timing each call;
//   - wasm-noop, wasm-noop-bare: the loop calling signal-ready, registered and bare;
//   - wasm-publish-bare-nocheck, wasm-noop-bare-nocheck: the bare variants with a guest not
//     instrumented by internal/preempt (no loop check);
//   - chain-from-Go, wasm-chain, scan-from-Go, wasm-scan: ~1 µs of pure computation (hostChain,
//     hostScan) from Go, and as the body of a bare import — the same work, so the difference is
//     the call.
//
// The derived metrics: host-checks = host-body-from-Go − Publisher.Publish (what the host
// function adds to the bus: principal, rate limit, topic cache, audit); wrapper = wasm-publish −
// wasm-publish-bare; call-idle = wasm-noop-bare (loop iteration and host call around an empty
// function); call-publish = wasm-publish-bare − host-body-from-Go, call-chain = wasm-chain −
// chain-from-Go and call-scan = wasm-scan − scan-from-Go (the same crossing around real work);
// loopcheck-idle and loopcheck-publish: what the loop check adds to an iteration around an
// empty host function and around a publish.
func BenchmarkHostCallGap(b *testing.B) {
	for _, size := range []int{128, 1024} {
		b.Run(map[int]string{128: "128B", 1024: "1KiB"}[size], func(b *testing.B) { hostCallGap(b, size) })
	}
}

// gapChunk is the number of messages of one run of a variant in BenchmarkHostCallGap.
const gapChunk = chunk

func hostCallGap(b *testing.B, size int) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r := newPathRig(b, size)
	br, nc := newBareRig(b, r, true), newBareRig(b, r, false)
	var observed time.Duration
	ro := newObservedPathRig(b, size, func(_ string, d time.Duration) { observed += d })
	mem := memoryOf(r.mod)
	p, src := r.bus.NewPublisher(), uuid.New()
	ctx := context.Background()
	callBare := func(f api.Function, args ...uint64) {
		res, err := f.Call(ctx, args...)
		if err != nil {
			b.Fatal(err)
		}
		if c := abi.Code(api.DecodeI32(res[0])); c != abi.OK {
			b.Fatal(c)
		}
	}
	pubArgs := []uint64{gapChunk, uint64(r.tp), uint64(r.tl), uint64(r.pp), uint64(r.pl)}
	variants := []struct {
		name string
		run  func()
	}{
		{"Publisher.Publish", func() {
			for range gapChunk {
				if _, err := p.Publish("bench.data", r.payload, src, bus.System()); err != nil {
					b.Fatal(err)
				}
			}
		}},
		{"host-body-from-Go", func() {
			for range gapChunk {
				if c := r.in.abiPublish(mem, r.tp, r.tl, r.pp, r.pl); c != abi.OK {
					b.Fatal(c)
				}
			}
		}},
		{"wasm-publish", func() { r.call(b, "publish_loop", pubArgs...) }},
		{"wasm-publish-bare", func() { br.body = bodyPublish; callBare(br.publish, pubArgs...) }},
		{"wasm-publish-observed", func() { ro.call(b, "publish_loop", pubArgs...) }},
		{"wasm-noop", func() { r.call(b, "ready_loop", gapChunk) }},
		{"wasm-noop-bare", func() { callBare(br.ready, gapChunk) }},
		{"wasm-publish-bare-nocheck", func() { callBare(nc.publish, pubArgs...) }},
		{"wasm-noop-bare-nocheck", func() { callBare(nc.ready, gapChunk) }},
		{"chain-from-Go", func() {
			for range gapChunk {
				computeSink += hostChain(r.payload[:128])
			}
		}},
		{"wasm-chain", func() { br.body = bodyChain; callBare(br.publish, pubArgs...) }},
		{"scan-from-Go", func() {
			for range gapChunk {
				computeSink += hostScan()
			}
		}},
		{"wasm-scan", func() { br.body = bodyScan; callBare(br.publish, pubArgs...) }},
	}
	perRun := make([][]float64, len(variants))
	order := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += gapChunk {
		// A new order every round: the first guest variant after a Go one pays for warming the
		// path into the guest again, and no variant may always be that one.
		for _, k := range order.Perm(len(variants)) {
			start := threadCPUTime()
			variants[k].run()
			perRun[k] = append(perRun[k], float64(threadCPUTime()-start)/gapChunk)
			r.drain()
			ro.drain()
		}
	}
	b.StopTimer()
	med := map[string]float64{}
	for k, v := range variants {
		slices.Sort(perRun[k])
		med[v.name] = perRun[k][len(perRun[k])/2]
		b.ReportMetric(med[v.name], "ns/"+v.name)
	}
	b.ReportMetric(med["host-body-from-Go"]-med["Publisher.Publish"], "ns/host-checks")
	b.ReportMetric(med["wasm-publish"]-med["wasm-publish-bare"], "ns/wrapper")
	b.ReportMetric(med["wasm-publish-observed"]-med["wasm-publish"], "ns/observe")
	if observed <= 0 {
		b.Fatal("Observe was not called")
	}
	b.ReportMetric(med["wasm-noop-bare"], "ns/call-idle")
	b.ReportMetric(med["wasm-publish-bare"]-med["host-body-from-Go"], "ns/call-publish")
	b.ReportMetric(med["wasm-chain"]-med["chain-from-Go"], "ns/call-chain")
	b.ReportMetric(med["wasm-scan"]-med["scan-from-Go"], "ns/call-scan")
	b.ReportMetric(med["wasm-noop-bare"]-med["wasm-noop-bare-nocheck"], "ns/loopcheck-idle")
	b.ReportMetric(med["wasm-publish-bare"]-med["wasm-publish-bare-nocheck"], "ns/loopcheck-publish")
}
