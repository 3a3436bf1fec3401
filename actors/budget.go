package actors

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// ErrMemoryBudget is returned (wrapped) by Start when a capsule's memory limit does not fit the
// host-wide memory budget (Options.MaxMemoryBytes).
var ErrMemoryBudget = errors.New("host memory budget exceeded")

// FallbackMaxMemoryBytes is the host memory budget when the machine's memory cannot be read.
const FallbackMaxMemoryBytes = 4 << 30

// DefaultMaxMemoryBytes is the default host-wide budget of capsule linear memory: half of the
// memory available to the process (the smaller of the machine's RAM and the cgroup's
// memory.max), or FallbackMaxMemoryBytes when neither can be read.
func DefaultMaxMemoryBytes() uint64 {
	total := physicalMemory()
	if cg := cgroupMemoryMax(); cg > 0 && (total == 0 || cg < total) {
		total = cg
	}
	if total == 0 {
		return FallbackMaxMemoryBytes
	}
	return total / 2
}

// cgroupMemoryMax reads the cgroup v2 memory limit of the process (0: none or unknown).
func cgroupMemoryMax() uint64 {
	b, err := os.ReadFile("/sys/fs/cgroup/memory.max")
	if err != nil {
		return 0
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0 // "max": no limit
	}
	return n
}

// physicalMemory is the machine's RAM in bytes (0: unknown).
func physicalMemory() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// MemoryBudget describes the host-wide memory budget.
type MemoryBudget struct {
	// Limit is the budget in bytes (Options.MaxMemoryBytes or its default).
	Limit uint64
	// Reserved is the sum of the memory limits of the live capsules.
	Reserved uint64
	// Capsules is the number of capsules holding a reservation.
	Capsules int
}

// memoryBudget reserves each live capsule's whole memory limit, so the linear memories of all
// capsules together never exceed the budget, whatever the guests do. A reservation is held
// from Start until the capsule's actor has stopped for good (stopped, ended or failed);
// restarts keep it, as the old instance's memory is unmapped before the new one starts.
type memoryBudget struct {
	limit uint64

	mu       sync.Mutex
	reserved uint64
	held     map[*Capsule]uint64
}

func newMemoryBudget(limit uint64) *memoryBudget {
	return &memoryBudget{limit: limit, held: map[*Capsule]uint64{}}
}

// reserve reserves n bytes for c or fails with ErrMemoryBudget.
func (b *memoryBudget) reserve(c *Capsule, n uint64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.reserved+n > b.limit || b.reserved+n < b.reserved {
		return fmt.Errorf("capsule %s: memory limit %s does not fit: %w (%s of %s reserved by %d capsule(s); "+
			"raise it with run --max-memory or actors.Options.MaxMemoryBytes, or lower the capsule's [limits] memory_pages)",
			c.ID(), formatBytes(n), ErrMemoryBudget, formatBytes(b.reserved), formatBytes(b.limit), len(b.held))
	}
	b.reserved += n
	b.held[c] += n
	return nil
}

// release returns c's reservation; it is idempotent.
func (b *memoryBudget) release(c *Capsule) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n, ok := b.held[c]; ok {
		b.reserved -= n
		delete(b.held, c)
	}
}

func (b *memoryBudget) stats() MemoryBudget {
	b.mu.Lock()
	defer b.mu.Unlock()
	return MemoryBudget{Limit: b.limit, Reserved: b.reserved, Capsules: len(b.held)}
}

// formatBytes renders n in binary units: "64 MiB", "1.5 GiB", "123 B".
func formatBytes(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	v, i := float64(n), 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if v == float64(uint64(v)) {
		return fmt.Sprintf("%d %s", uint64(v), units[i])
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}
