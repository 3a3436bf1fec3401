package actors

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"

	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/hostfuncs"
	"github.com/astrid-actors/astrid-actors/internal/actorsys"
	"github.com/astrid-actors/astrid-actors/supervision"
)

// benchLimits lift the per-capsule throughput limit and the mailbox caps so the benchmark
// measures the message path, not the policies.
var benchLimits = Limits{IPC: hostfuncs.Limits{
	ThroughputBytesPerSec:    1 << 40,
	ThroughputMessagesPerSec: 1 << 40,
	Mailbox:                  bus.MailboxLimits{Bytes: 256 << 20, PerPrincipal: 1 << 22},
}}

// BenchmarkWasmPubSub measures WASM → WASM messages: the benchpub capsule publishes b.N
// 128-byte JSON messages in a loop; 1 or 100 benchsink capsules drain them with recv.
// deliveries/s counts messages received by all sinks. Compare with BenchmarkNativeProtoactor.
func BenchmarkWasmPubSub(b *testing.B) {
	for _, sinks := range []int{1, 100} {
		b.Run(fmt.Sprintf("1to%d", sinks), func(b *testing.B) {
			r := newRuntime(b)
			pubMod := compile(b, r, "testdata/wat/benchpub.wasm")
			sinkMod := compile(b, r, "testdata/wat/benchsink.wasm")
			done := hostSubscribe(b, r, "bench.done")
			var caps []*Capsule
			for i := range sinks {
				caps = append(caps, startCapsule(b, r, CapsuleSpec{
					ID: fmt.Sprint("sink-", i), Module: sinkMod, Limits: benchLimits,
					Grants: grants([]string{"bench.done"}, []string{"bench.data"}),
					Config: map[string]string{"n": strconv.Itoa(b.N)},
				}))
			}
			caps = append(caps, startCapsule(b, r, CapsuleSpec{
				ID: "pub", Module: pubMod, Limits: benchLimits,
				Grants: grants([]string{"bench.data"}, []string{"bench.go"}),
			}))
			for _, c := range caps {
				waitReady(b, c)
			}
			b.ResetTimer()
			if _, err := r.Bus().Publish("bench.go", []byte(strconv.Itoa(b.N)), uuid.Nil, bus.System()); err != nil {
				b.Fatal(err)
			}
			msgs := receive(b, done, sinks, 5*time.Minute)
			b.StopTimer()
			dropped := 0
			for _, m := range msgs {
				n, _ := strconv.Atoi(string(m.Payload))
				dropped += n
			}
			b.ReportMetric(float64(b.N*sinks)/b.Elapsed().Seconds(), "deliveries/s")
			b.ReportMetric(float64(dropped), "dropped")
		})
	}
}

type benchProducer struct{ consumers []*actor.PID }

type benchGo struct{ n int }

func (p *benchProducer) Receive(ctx actor.Context) {
	if m, ok := ctx.Message().(benchGo); ok {
		for i := range m.n {
			msg := &bus.Message{Seq: uint64(i), Topic: "bench.data", Payload: benchPayload}
			for _, c := range p.consumers {
				ctx.Send(c, msg)
			}
		}
	}
}

type benchConsumer struct {
	want, got int
	done      chan struct{}
}

func (c *benchConsumer) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*bus.Message); ok {
		c.got++
		if c.got == c.want {
			close(c.done)
		}
	}
}

// benchPayload is the 128-byte JSON payload benchpub.wasm publishes.
var benchPayload = []byte(`{"kind":"bench","pad":"` + strings.Repeat("x", 103) + `"}`)

// BenchmarkNativeProtoactor is the baseline of BenchmarkWasmPubSub: a producer actor sends
// the same number of messages to 1 or 100 consumer actors with plain protoactor-go (no WASM,
// no topic matching, no accounting).
func BenchmarkNativeProtoactor(b *testing.B) {
	for _, consumers := range []int{1, 100} {
		b.Run(fmt.Sprintf("1to%d", consumers), func(b *testing.B) {
			system := actorsys.New(nil)
			defer system.Shutdown()
			var pids []*actor.PID
			var dones []chan struct{}
			for range consumers {
				c := &benchConsumer{want: b.N, done: make(chan struct{})}
				dones = append(dones, c.done)
				pids = append(pids, system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return c })))
			}
			producer := system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &benchProducer{consumers: pids} }))
			b.ResetTimer()
			system.Root.Send(producer, benchGo{n: b.N})
			for _, d := range dones {
				<-d
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*consumers)/b.Elapsed().Seconds(), "deliveries/s")
			for _, pid := range append(pids, producer) {
				_ = system.Root.StopFuture(pid).Wait()
			}
		})
	}
}

// BenchmarkRestart measures trap → new instance ready (signal-ready called) with zero
// backoff: the crashy capsule traps on a message, the supervisor restarts it at once.
func BenchmarkRestart(b *testing.B) {
	r := newRuntime(b)
	p := &supervision.Policy{Restart: supervision.Permanent, MaxRestarts: 1 << 30, Within: time.Minute}
	c := startCapsule(b, r, CapsuleSpec{ID: "crashy", Module: compile(b, r, "testdata/wat/crashy.wasm"), Policy: p,
		Grants: grants(nil, []string{"crash.*"})})
	waitReady(b, c)
	b.ResetTimer()
	for range b.N {
		prev := c.Status().Instances
		if _, err := r.Bus().Publish("crash.now", []byte(`1`), uuid.Nil, bus.System()); err != nil {
			b.Fatal(err)
		}
		for {
			st := c.Status()
			if st.Instances > prev && st.State == StateReady {
				break
			}
			runtime.Gosched()
		}
	}
}
