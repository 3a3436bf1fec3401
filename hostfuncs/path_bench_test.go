package hostfuncs

import (
	"context"
	"errors"
	"os"
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
		Grants: Grants{Publish: []string{"bench.data"}},
		Limits: Limits{ThroughputBytesPerSec: 1 << 40, ThroughputMessagesPerSec: 1 << 40},
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
