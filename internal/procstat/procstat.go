// Package procstat reads this process's resource figures from /proc, for tests and the bench.
package procstat

import (
	"os"
	"strconv"
	"strings"
)

// RSS returns the process's resident set size in bytes from /proc/self/statm; ok is false
// where /proc is unavailable.
func RSS() (bytes uint64, ok bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * uint64(os.Getpagesize()), true
}
