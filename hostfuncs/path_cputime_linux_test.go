package hostfuncs

import "golang.org/x/sys/unix"

// threadCPUTime returns the CPU time of the calling OS thread in nanoseconds (0 if unknown).
func threadCPUTime() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return ts.Nano()
}
