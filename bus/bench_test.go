package bus

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"

	"github.com/astrid-actors/astrid-actors/internal/actorsys"
)

// payload128 is a 128-byte JSON payload, the message size of the performance targets.
var payload128 = []byte(`{"kind":"bench","pad":"` + strings.Repeat("x", 128-26) + `"}`)

func reportRate(b *testing.B, deliveries int) {
	b.ReportMetric(float64(deliveries)/b.Elapsed().Seconds(), "deliveries/s")
}

// BenchmarkPublishDrain measures publish → mailbox → drain through the bus with 1 and 100
// subscribers, each drained by its own goroutine. Compare with BenchmarkBaselineChannel and
// BenchmarkBaselineProtoactor, which move the same number of messages.
func BenchmarkPublishDrain(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(subName(n), func(b *testing.B) {
			bus, subs := benchSubscribers(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			wg := startConsumers(subs, uint64(b.N))
			src := uuid.New()
			for range b.N {
				if _, err := bus.Publish("bench.topic", payload128, src, System()); err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
			b.StopTimer()
			var dropped uint64
			for _, s := range subs {
				dropped += s.Mailbox().Stats().Dropped()
			}
			reportRate(b, b.N*n)
			b.ReportMetric(float64(dropped), "dropped")
		})
	}
}

// BenchmarkPublishDrainRecycled is BenchmarkPublishDrain the way the runtime uses the bus: a
// Publisher (whose messages are recycled) and consumers that release every message they drain,
// as a capsule's recv does; 128 B and 1 KiB payloads.
func BenchmarkPublishDrainRecycled(b *testing.B) {
	for _, n := range []int{1, 100} {
		for _, size := range []int{128, 1024} {
			payload := []byte(`{"kind":"bench","pad":"` + strings.Repeat("x", size-26) + `"}`)
			b.Run(subName(n)+"/"+itoa(size)+"B", func(b *testing.B) {
				bus, subs := benchSubscribers(b, n)
				b.ReportAllocs()
				b.SetBytes(int64(size))
				b.ResetTimer()
				var wg sync.WaitGroup
				for _, s := range subs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						consumeReleasing(s, uint64(b.N))
					}()
				}
				p, src := bus.NewPublisher(), uuid.New()
				for range b.N {
					if _, err := p.Publish("bench.topic", payload, src, System()); err != nil {
						b.Fatal(err)
					}
				}
				wg.Wait()
				b.StopTimer()
				reportRate(b, b.N*n)
			})
		}
	}
}

// consumeReleasing is consume releasing every message drained.
func consumeReleasing(s *Subscription, n uint64) {
	got := uint64(0)
	dst := make([]*Message, 0, 1024)
	for got < n {
		batch := s.Mailbox().Drain(dst, 1<<20, takeAll)
		for _, m := range batch.Messages {
			m.Release()
		}
		dst = batch.Messages
		got += uint64(len(batch.Messages)) + batch.Dropped
		if len(batch.Messages) == 0 {
			_, _ = s.Mailbox().Wait(context.Background(), time.Second)
		}
	}
}

// benchSubscribers returns a bus with n subscriptions to "bench.*" whose mailboxes are large
// enough that nothing is dropped.
func benchSubscribers(b *testing.B, n int) (*Bus, []*Subscription) {
	bus := newBus(b, Options{Mailbox: MailboxLimits{Bytes: 64 << 20, PerPrincipal: 1 << 20}})
	subs := make([]*Subscription, n)
	for i := range subs {
		subs[i] = subscribe(b, bus, "bench.*")
	}
	return bus, subs
}

// startConsumers drains every subscription on its own goroutine until n messages each were
// delivered or dropped; wait on the returned group.
func startConsumers(subs []*Subscription, n uint64) *sync.WaitGroup {
	var wg sync.WaitGroup
	for _, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			consume(s, n)
		}()
	}
	return &wg
}

// consume drains s until n messages were delivered or counted as dropped.
func consume(s *Subscription, n uint64) {
	got := uint64(0)
	dst := make([]*Message, 0, 1024)
	for got < n {
		batch := s.Mailbox().Drain(dst, 1<<20, takeAll)
		dst = batch.Messages
		got += uint64(len(batch.Messages)) + batch.Dropped
		if len(batch.Messages) == 0 {
			_, _ = s.Mailbox().Wait(context.Background(), time.Second)
		}
	}
}

// BenchmarkBaselineChannel moves the same messages through buffered Go channels, one per
// subscriber: the floor any queue can hope for.
func BenchmarkBaselineChannel(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(subName(n), func(b *testing.B) {
			chans := make([]chan *Message, n)
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.ResetTimer()
			for i := range chans {
				chans[i] = make(chan *Message, 1024)
				wg.Add(1)
				go func(c chan *Message) {
					defer wg.Done()
					for range b.N {
						<-c
					}
				}(chans[i])
			}
			for i := range b.N {
				m := &Message{Seq: uint64(i), Topic: "bench.topic", Payload: payload128, Time: time.Now()}
				for _, c := range chans {
					c <- m
				}
			}
			wg.Wait()
			reportRate(b, b.N*n)
		})
	}
}

type countingActor struct {
	n    int
	want int
	done chan struct{}
}

func (a *countingActor) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*Message); ok {
		a.n++
		if a.n == a.want {
			close(a.done)
		}
	}
}

// BenchmarkBaselineProtoactor moves the same messages with plain protoactor-go: Root.Send to
// one actor per subscriber (unbounded mailbox, no matching, no accounting).
func BenchmarkBaselineProtoactor(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(subName(n), func(b *testing.B) {
			system := actorsys.New(nil)
			defer system.Shutdown()
			pids := make([]*actor.PID, n)
			dones := make([]chan struct{}, n)
			for i := range pids {
				dones[i] = make(chan struct{})
				a := &countingActor{want: b.N, done: dones[i]}
				pids[i] = system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return a }))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				m := &Message{Seq: uint64(i), Topic: "bench.topic", Payload: payload128, Time: time.Now()}
				for _, pid := range pids {
					system.Root.Send(pid, m)
				}
			}
			for _, d := range dones {
				<-d
			}
			b.StopTimer()
			reportRate(b, b.N*n)
			for _, pid := range pids {
				_ = system.Root.StopFuture(pid).Wait()
			}
		})
	}
}

// BenchmarkPublishParallel publishes from all Ps at once to one drained subscriber, showing
// that publishing does not funnel through the router actor.
func BenchmarkPublishParallel(b *testing.B) {
	bus := newBus(b, Options{Mailbox: MailboxLimits{Bytes: 64 << 20, PerPrincipal: 1 << 20}})
	s := subscribe(b, bus, "bench.*")
	stop := drainUntilStopped(s)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		src := uuid.New()
		for pb.Next() {
			if _, err := bus.Publish("bench.topic", payload128, src, System()); err != nil {
				b.Error(err)
				return
			}
		}
	})
	stop()
}

// drainUntilStopped drains s on a goroutine of its own until the returned stop is called (and
// returns only once that goroutine has ended).
func drainUntilStopped(s *Subscription) (stop func()) {
	var stopping atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		dst := make([]*Message, 0, 1024)
		for !stopping.Load() {
			batch := s.Mailbox().Drain(dst, 1<<20, takeAll)
			dst = batch.Messages
			if len(batch.Messages) == 0 {
				_, _ = s.Mailbox().Wait(context.Background(), time.Millisecond)
			}
		}
	}()
	return func() {
		stopping.Store(true)
		<-done
	}
}

func subName(n int) string {
	if n == 1 {
		return "1to1"
	}
	return "1to" + itoa(n)
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// funnelActor publishes every request it receives: the design this package rejected, where
// every publish goes through one actor (the same validation, stamping and delivery, on the
// actor's goroutine). BenchmarkPublishFunnelledThroughActor measures it against
// BenchmarkPublishDrain to document the choice.
type funnelActor struct{ bus *Bus }

type publishRequest struct {
	topic   string
	payload []byte
}

func (f *funnelActor) Receive(ctx actor.Context) {
	if m, ok := ctx.Message().(*publishRequest); ok {
		if _, err := f.bus.Publish(m.topic, m.payload, uuid.Nil, System()); err != nil {
			panic(err)
		}
	}
}

func BenchmarkPublishFunnelledThroughActor(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(subName(n), func(b *testing.B) {
			bus, subs := benchSubscribers(b, n)
			pid := bus.system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &funnelActor{bus: bus} }))
			defer func() { _ = bus.system.Root.StopFuture(pid).Wait() }()
			b.ReportAllocs()
			b.ResetTimer()
			wg := startConsumers(subs, uint64(b.N))
			for range b.N {
				bus.system.Root.Send(pid, &publishRequest{topic: "bench.topic", payload: payload128})
			}
			wg.Wait()
			reportRate(b, b.N*n)
		})
	}
}
