package bus

import "golang.org/x/sys/unix"

// threadCPUTime returns the CPU time of the calling OS thread in nanoseconds (0 if unknown):
// the validation benchmarks report throughput over it too, which on a machine shared with
// other work counts only the cycles the benchmark got.
func threadCPUTime() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return ts.Nano()
}
