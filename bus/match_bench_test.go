package bus

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

// BenchmarkPublishParallelTopics publishes from 4 goroutines per P at once, each on a topic
// of its own out of k, to one drained "pt.*" subscription. With one global match entry, k > 1
// made every publish miss and rebuild it; with the per-publisher caches ns/op at k = 8 should
// stay close to k = 1 (compare the two in the same run).
func BenchmarkPublishParallelTopics(b *testing.B) {
	for _, k := range []int{1, 8} {
		b.Run(fmt.Sprintf("topics=%d", k), func(b *testing.B) {
			bus := newBus(b, Options{Mailbox: MailboxLimits{Bytes: 64 << 20, PerPrincipal: 1 << 20}})
			s := subscribe(b, bus, "pt.*")
			stop := drainUntilStopped(s)
			var next atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				topic := fmt.Sprintf("pt.t%d", next.Add(1)%int64(k))
				src := uuid.New()
				for pb.Next() {
					if _, err := bus.Publish(topic, payload128, src, System()); err != nil {
						b.Error(err)
						return
					}
				}
			})
			stop()
		})
	}
}

// BenchmarkMatchRefresh measures what a publish pays after a change of the subscription table
// with n subscriptions on its topic's pattern: refreshing the match cache (Index.Lookup, the
// groups) against copying the matching subscriptions (Index.Match into a new slice, what the
// single global entry did), interleaved in the same iterations. ns/op is the sum of both.
func BenchmarkMatchRefresh(b *testing.B) {
	for _, n := range []int{1_000, 50_000} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			bus := newBus(b, Options{})
			for range n {
				subscribe(b, bus, "mr.x")
			}
			var c l1
			var refresh, rebuild time.Duration
			for b.Loop() {
				start := time.Now()
				bus.generation.Add(1) // as the router does after a change
				if len(c.lookup(bus, "mr.x")) != 1 {
					b.Fatal("no group")
				}
				mid := time.Now()
				if len(bus.index.Match("mr.x", nil)) != n {
					b.Fatal("wrong match")
				}
				refresh += mid.Sub(start)
				rebuild += time.Since(mid)
			}
			b.ReportMetric(float64(refresh.Nanoseconds())/float64(b.N), "refresh-ns")
			b.ReportMetric(float64(rebuild.Nanoseconds())/float64(b.N), "copy-ns")
		})
	}
}
