package topics

import (
	"fmt"
	"testing"
	"time"
)

// benchPattern returns the i-th pattern of the benchmark mix: one
// per-service subtree "svc.<k>.*" for each of the first 100 subscriptions,
// then 10% subtree patterns on distinct prefixes, 10% middle wildcards and
// 80% exact topics.
func benchPattern(i int) string {
	switch {
	case i < 100:
		return fmt.Sprintf("svc.%d.*", i)
	case i%10 == 0:
		return fmt.Sprintf("svc.%d.t%d.*", i%100, i)
	case i%10 == 1:
		return fmt.Sprintf("svc.*.evt.%d", i)
	default:
		return fmt.Sprintf("svc.%d.evt.%d", i%100, i)
	}
}

// benchTopics are 4-segment topics; each matches at most a few patterns
// whatever the index size, so ns/op should stay flat as it grows.
var benchTopics = []string{
	"svc.7.evt.9007",     // svc.7.* + exact
	"svc.1.evt.9001",     // svc.1.* + middle wildcard
	"svc.10.t9010.x",     // svc.10.* + subtree on a distinct prefix
	"svc.42.evt.missing", // svc.42.*
	"other.7.evt.9007",   // nothing
}

func buildBenchIndex(tb testing.TB, n int) *Index[int] {
	tb.Helper()
	ix := NewIndex[int]()
	for i := range n {
		if err := ix.Add(benchPattern(i), i); err != nil {
			tb.Fatal(err)
		}
	}
	return ix
}

func BenchmarkIndexMatch(b *testing.B) {
	for _, n := range []int{10, 10_000, 100_000} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			start := time.Now()
			ix := buildBenchIndex(b, n)
			build := time.Since(start)
			dst := make([]int, 0, 64)
			b.ReportAllocs()
			i, matches := 0, 0
			for b.Loop() {
				dst = ix.Match(benchTopics[i%len(benchTopics)], dst[:0])
				matches += len(dst)
				i++
			}
			b.ReportMetric(float64(matches)/float64(i), "matches/op")
			b.ReportMetric(float64(build.Microseconds())/1000, "build-ms")
		})
	}
}

func BenchmarkIndexMatchParallel(b *testing.B) {
	ix := buildBenchIndex(b, 100_000)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		dst := make([]int, 0, 64)
		i := 0
		for pb.Next() {
			dst = ix.Match(benchTopics[i%len(benchTopics)], dst[:0])
			i++
		}
	})
}

func BenchmarkIndexAdd(b *testing.B) {
	ix := NewIndex[int]()
	patterns := make([]string, 100_000)
	for i := range patterns {
		patterns[i] = benchPattern(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		p := patterns[i%len(patterns)]
		if err := ix.Add(p, i); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkMatchRoute(b *testing.B) {
	for _, bc := range []struct{ name, pattern, topic string }{
		{"exact", "svc.7.evt.9007", "svc.7.evt.9007"},
		{"middle", "tool.v1.execute.*.result", "tool.v1.execute.read_file.result"},
		{"subtree", "astrid.v1.*", "astrid.v1.admin.agent.list"},
		{"miss", "svc.7.evt.9007", "svc.7.evt.9008"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				MatchRoute(bc.pattern, bc.topic)
			}
		})
	}
}

func BenchmarkMatchStrict(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		MatchStrict("tool.v1.execute.*.result", "tool.v1.execute.read_file.result")
	}
}

// TestBenchTopicsMatchFew guards the benchmark's premise: each topic
// matches a bounded number of patterns, found the same way as by MatchRoute.
func TestBenchTopicsMatchFew(t *testing.T) {
	n := 10_000
	if testing.Short() {
		n = 1000
	}
	ix := buildBenchIndex(t, n)
	for _, topic := range benchTopics {
		got := ix.Match(topic, nil)
		want := 0
		for i := range n {
			if MatchRoute(benchPattern(i), topic) {
				want++
			}
		}
		if len(got) != want || want > 3 {
			t.Errorf("Match(%q) found %d, MatchRoute %d (want <= 3)", topic, len(got), want)
		}
	}
}

// BenchmarkIndexOnePattern subscribes and then unsubscribes n values on one
// exact pattern (issue 15, item 4: 50 k took 12.5 s before the value sets).
// Each iteration also does the same inserts and deletes on a Go map, linear
// by construction, and reports ours/map ("x-map"): flat across n means
// linear, whatever the load on the machine.
func BenchmarkIndexOnePattern(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var ours, base time.Duration
			for b.Loop() {
				start := time.Now()
				m := make(map[int]bool)
				for v := range n {
					m[v] = true
				}
				for v := range n {
					delete(m, v)
				}
				mid := time.Now()
				ix := NewIndex[int]()
				for v := range n {
					_ = ix.Add("svc.orders.created", v)
				}
				for v := range n {
					ix.Remove("svc.orders.created", v)
				}
				base += mid.Sub(start)
				ours += time.Since(mid)
			}
			b.ReportMetric(float64(ours.Nanoseconds())/float64(b.N)/float64(2*n), "ns/change")
			b.ReportMetric(float64(ours)/float64(base), "x-map")
		})
	}
}
