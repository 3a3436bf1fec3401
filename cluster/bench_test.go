package cluster

import (
	"context"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/astrid-actors/astrid-actors/bus"
)

var benchPayload = []byte(`"` + strings.Repeat("x", 126) + `"`) // 128 bytes of JSON

// consumer drains s on its own goroutine and counts delivered + lagged.
func consumer(b *testing.B, s *bus.Subscription) *atomic.Uint64 {
	var n atomic.Uint64
	go func() {
		ctx := context.Background()
		for {
			if _, err := s.Mailbox().Wait(ctx, time.Second); err != nil {
				return
			}
			batch := s.Mailbox().Drain(nil, 1<<20, func(*bus.Message) bool { return true })
			n.Add(uint64(len(batch.Messages)) + batch.Lagged + batch.Dropped)
		}
	}()
	return &n
}

func benchSubscribe(b *testing.B, tn *testNode) *bus.Subscription {
	s, err := tn.bus.Subscribe(b.Context(), "bench.*", bus.SubscribeOptions{Mailbox: bus.MailboxLimits{Bytes: 64 << 20, PerPrincipal: 1 << 20}})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// runPublish publishes b.N messages on from and waits until every counter reached b.N; it
// returns how long that took.
func runPublish(b *testing.B, from *testNode, counters ...*atomic.Uint64) time.Duration {
	b.SetBytes(int64(len(benchPayload)))
	start := time.Now()
	b.ResetTimer()
	for range b.N {
		if _, err := from.bus.Publish("bench.t", benchPayload, uuid.Nil, bus.System()); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for _, c := range counters {
		for c.Load() < uint64(b.N) {
			if time.Now().After(deadline) {
				b.Fatalf("only %d of %d arrived", c.Load(), b.N)
			}
			runtime.Gosched()
		}
	}
	b.StopTimer()
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "delivered/s")
	return elapsed
}

// BenchmarkPublishDrain compares one publisher and drained subscribers on the same bus
// (local, the baseline) with subscribers on other nodes of an in-process cluster (remote1: one
// remote subscriber; remote2: two, on two nodes). ns/op is per published message.
func BenchmarkPublishDrain(b *testing.B) {
	b.Run("local", func(b *testing.B) {
		tn := startTestNode(b, Options{Node: "solo"})
		runPublish(b, tn, consumer(b, benchSubscribe(b, tn)))
	})
	b.Run("remote1", func(b *testing.B) {
		nodes := startTrio(b, Options{})
		d := runPublish(b, nodes[0], consumer(b, benchSubscribe(b, nodes[1])))
		reportLoss(b, nodes[0], d, 1)
	})
	b.Run("remote2", func(b *testing.B) {
		nodes := startTrio(b, Options{})
		d := runPublish(b, nodes[0], consumer(b, benchSubscribe(b, nodes[1])), consumer(b, benchSubscribe(b, nodes[2])))
		reportLoss(b, nodes[0], d, 2)
	})
}

// reportLoss reports the link losses per published message and replaces delivered/s with the
// rate of messages actually delivered (not lost) per subscriber.
func reportLoss(b *testing.B, tn *testNode, elapsed time.Duration, subs int) {
	var lost, sent, frames uint64
	for _, l := range tn.node.Links() {
		lost += l.Lost
		sent += l.Sent
		frames += l.Frames
	}
	b.ReportMetric(float64(lost)/float64(b.N), "lost/op")
	b.ReportMetric((float64(b.N*subs)-float64(lost))/float64(subs)/elapsed.Seconds(), "delivered/s")
	if frames > 0 {
		b.ReportMetric(float64(sent)/float64(frames), "msgs/frame")
	}
}

// BenchmarkRoundTrip measures publish on n1 → a responder on n2 republishes → back on n1,
// one message at a time, and reports the p50 and p99 round trip.
func BenchmarkRoundTrip(b *testing.B) {
	nodes := startTrio(b, Options{})
	ctx := b.Context()
	ping, err := nodes[1].bus.Subscribe(ctx, "rt.ping", bus.SubscribeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	pong, err := nodes[0].bus.Subscribe(ctx, "rt.pong", bus.SubscribeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		for {
			if _, err := ping.Mailbox().Wait(context.Background(), time.Second); err != nil {
				return
			}
			for _, m := range ping.Mailbox().Drain(nil, 1<<20, func(*bus.Message) bool { return true }).Messages {
				_, _ = nodes[1].bus.Publish("rt.pong", m.Payload, uuid.Nil, bus.System())
			}
		}
	}()
	rtts := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := nodes[0].bus.Publish("rt.ping", benchPayload, uuid.Nil, bus.System()); err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := pong.Mailbox().Wait(ctx, 5*time.Second); err != nil {
				b.Fatal(err)
			}
			if len(pong.Mailbox().Drain(nil, 1<<20, func(*bus.Message) bool { return true }).Messages) > 0 {
				break
			}
		}
		rtts = append(rtts, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(rtts)
	b.ReportMetric(float64(rtts[len(rtts)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(rtts[len(rtts)*99/100].Microseconds()), "p99-µs")
}

// TestIdleNodeFootprint reports an idle three-node in-process cluster's goroutines per node and
// the time one Close takes (checked against generous bounds: the figures go to RATIONALE.md).
func TestIdleNodeFootprint(t *testing.T) {
	before := runtime.NumGoroutine()
	start := time.Now()
	nodes := startTrio(t, Options{})
	formed := time.Since(start)
	perNode := (runtime.NumGoroutine() - before) / len(nodes)
	start = time.Now()
	sub, err := nodes[0].bus.Subscribe(t.Context(), "footprint.*", bus.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	subscribed := time.Since(start)
	_ = sub.Close(t.Context())
	start = time.Now()
	nodes[2].close(t)
	closeTook := time.Since(start)
	t.Logf("three nodes formed in %v; idle goroutines per node (node + bus + actor system): %d; "+
		"Subscribe confirmed by two members in %v; Close of one node: %v", formed, perNode, subscribed, closeTook)
	if perNode > 100 || closeTook > time.Second {
		t.Fatalf("idle node: %d goroutines, Close %v", perNode, closeTook)
	}
}
