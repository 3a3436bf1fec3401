package bench

import (
	"fmt"
	"math"
	"runtime/metrics"
	"time"
)

// diag is a snapshot of what can explain a slow run: page faults, GC cycles and the Go
// scheduler's latency histogram (time goroutines spent runnable before they ran).
type diag struct {
	minor, major uint64
	gcs          uint64
	gcCPU        float64
	sched        *metrics.Float64Histogram
	cpu          time.Duration // user + system CPU time of the process
	at           time.Time
}

var diagNames = []string{"/gc/cycles/total:gc-cycles", "/sched/latencies:seconds", "/cpu/classes/gc/total:cpu-seconds"}

func takeDiag() diag {
	s := make([]metrics.Sample, len(diagNames))
	for i, n := range diagNames {
		s[i].Name = n
	}
	metrics.Read(s)
	d := diag{at: time.Now()}
	d.minor, d.major, _ = pageFaults()
	d.cpu = processCPU()
	if s[0].Value.Kind() == metrics.KindUint64 {
		d.gcs = s[0].Value.Uint64()
	}
	if s[1].Value.Kind() == metrics.KindFloat64Histogram {
		d.sched = s[1].Value.Float64Histogram()
	}
	if s[2].Value.Kind() == metrics.KindFloat64 {
		d.gcCPU = s[2].Value.Float64()
	}
	return d
}

// since describes what happened between d0 and d: faults, GC cycles and GC CPU time, and the
// p99 and maximum scheduling latency of the goroutines that became runnable in between.
func (d diag) since(d0 diag) string {
	p99, maxLat := "?", "?"
	if d.sched != nil && d0.sched != nil && len(d.sched.Counts) == len(d0.sched.Counts) {
		counts := make([]uint64, len(d.sched.Counts))
		var total uint64
		for i := range counts {
			counts[i] = d.sched.Counts[i] - d0.sched.Counts[i]
			total += counts[i]
		}
		var seen uint64
		for i, c := range counts {
			if c == 0 {
				continue
			}
			seen += c
			upper := d.sched.Buckets[i+1]
			if math.IsInf(upper, 1) {
				upper = d.sched.Buckets[i]
			}
			if p99 == "?" && seen >= total-total/100 {
				p99 = time.Duration(upper * 1e9).String()
			}
			maxLat = time.Duration(upper * 1e9).String()
		}
	}
	return fmt.Sprintf("process CPU %v (%.2f cores), faults %d minor %d major, %d GCs (%.0f ms GC CPU), sched latency p99 ≤ %s max ≤ %s",
		(d.cpu - d0.cpu).Round(time.Millisecond), float64(d.cpu-d0.cpu)/float64(max(d.at.Sub(d0.at), time.Microsecond)),
		d.minor-d0.minor, d.major-d0.major, d.gcs-d0.gcs, (d.gcCPU-d0.gcCPU)*1e3, p99, maxLat)
}
