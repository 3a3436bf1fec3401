package bus

import (
	"testing"
	"time"
)

// TestMonoClockTracksWallTime checks that the derived clock never goes backwards and stays
// within a millisecond of time.Now (no step of the wall clock happens during a test).
func TestMonoClockTracksWallTime(t *testing.T) {
	c := newMonoClock()
	prev := c.now()
	for range 10_000 {
		before := time.Now()
		got := c.now()
		after := time.Now()
		if got.Before(prev) {
			t.Fatalf("clock went backwards: %v after %v", got, prev)
		}
		if got.Before(before.Add(-time.Millisecond)) || got.After(after.Add(time.Millisecond)) {
			t.Fatalf("derived time %v outside [%v, %v] ± 1ms", got, before, after)
		}
		prev = got
	}
}

// TestDefaultNowIsTheMonoClock checks that a bus without Options.Now stamps messages with the
// derived clock: a time within the interval around the publish.
func TestDefaultNowIsTheMonoClock(t *testing.T) {
	b := newBus(t, Options{})
	before := time.Now()
	res, err := b.Publish("clock.t", []byte(`1`), [16]byte{}, System())
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	if ts := res.Message.Time; ts.Before(before.Add(-time.Millisecond)) || ts.After(after.Add(time.Millisecond)) {
		t.Fatalf("message time %v outside [%v, %v]", ts, before, after)
	}
}

var sinkTime time.Time

// BenchmarkClock compares a wall-clock read per message (time.Now, what the bus did) with the
// derived clock, interleaved in the same iterations; ns/op is the sum of both.
func BenchmarkClock(b *testing.B) {
	c := newMonoClock()
	var wall, mono time.Duration
	const batch = 1000
	for b.Loop() {
		t0 := time.Now()
		for range batch {
			sinkTime = time.Now()
		}
		t1 := time.Now()
		for range batch {
			sinkTime = c.now()
		}
		t2 := time.Now()
		wall += t1.Sub(t0)
		mono += t2.Sub(t1)
	}
	b.ReportMetric(float64(wall.Nanoseconds())/float64(b.N*batch), "time.Now-ns")
	b.ReportMetric(float64(mono.Nanoseconds())/float64(b.N*batch), "mono-ns")
	b.ReportMetric(float64(mono)/float64(wall), "ratio")
}
