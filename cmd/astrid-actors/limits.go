package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/astrid-actors/astrid-actors/actors"
	"github.com/astrid-actors/astrid-actors/manifest"
)

// limitFlags are the operator's bounds of run: the host memory budget and the caps on what a
// manifest may ask for (docs/limits.md).
type limitFlags struct {
	maxMemory, maxCapsuleMemory, maxPublish string
	maxModule, maxKV                        string
	maxPublishMessages                      int
	maxRestarts                             int
	restartWindow, minBackoff               time.Duration

	opts actors.Options // MaxMemoryBytes and Caps, set by validate
}

func (f *limitFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.maxMemory, "max-memory", "", "host budget of capsule memory, `SIZE` such as 4GiB: the memory limits of all capsules must fit (default: half of the machine's memory)")
	fl.StringVar(&f.maxCapsuleMemory, "max-capsule-memory", "", "refuse manifests whose [limits] memory_pages exceed `SIZE` (default 1GiB)")
	fl.IntVar(&f.maxRestarts, "max-restarts", 0, fmt.Sprintf("restart any capsule at most `N` times per --restart-window, whatever its manifest says (default %d)", actors.DefaultCapMaxRestarts))
	fl.DurationVar(&f.restartWindow, "restart-window", 0, fmt.Sprintf("the window of --max-restarts (default %v)", actors.DefaultCapRestartWindow))
	fl.DurationVar(&f.minBackoff, "min-backoff", 0, "raise a manifest's backoff_initial to at least this (default 0)")
	fl.StringVar(&f.maxModule, "max-module-size", "", "refuse manifests whose [limits] module_bytes exceed `SIZE`, and read no module file larger (default 1GiB)")
	fl.IntVar(&f.maxPublishMessages, "max-publish-messages", 0, fmt.Sprintf("lower a manifest's ipc_throughput_messages_per_sec to at most `N` (default %d)",
		actors.DefaultCapThroughputMessagesPerSec))
	fl.StringVar(&f.maxKV, "max-kv-bytes", "", fmt.Sprintf("lower a manifest's [limits] kv_bytes (the astrid:kv quota) to at most `SIZE` (default %s)", formatSize(actors.DefaultCapKVBytes)))
	fl.StringVar(&f.maxPublish, "max-publish-rate", "", fmt.Sprintf("lower a manifest's ipc_throughput_bytes_per_sec to at most `SIZE` per second (default %s)",
		formatSize(actors.DefaultCapThroughputBytesPerSec)))
}

// validate parses the flags into opts (usage errors).
func (f *limitFlags) validate() error {
	if f.maxMemory != "" {
		n, err := parseSize(f.maxMemory)
		if err != nil || n == 0 {
			return usagef("--max-memory %q: want a size such as 512MiB or 4GiB (%v)", f.maxMemory, orPositive(err))
		}
		f.opts.MaxMemoryBytes = n
	}
	if f.maxCapsuleMemory != "" {
		n, err := parseSize(f.maxCapsuleMemory)
		pages := n / 65536
		if err != nil || pages == 0 || pages > actors.MaxMemoryPages {
			return usagef("--max-capsule-memory %q: want a size from 64KiB to 1GiB (%v)", f.maxCapsuleMemory, orPositive(err))
		}
		f.opts.Caps.MaxMemoryPages = uint32(pages)
	}
	if f.maxPublish != "" {
		n, err := parseSize(f.maxPublish)
		if err != nil || n == 0 || n > 1<<40 {
			return usagef("--max-publish-rate %q: want a size per second such as 10MiB (%v)", f.maxPublish, orPositive(err))
		}
		f.opts.Caps.MaxThroughputBytesPerSec = int(n)
	}
	if f.maxModule != "" {
		n, err := parseSize(f.maxModule)
		if err != nil || n == 0 || n > manifest.MaxModuleBytes {
			return usagef("--max-module-size %q: want a size from 1B to 1GiB (%v)", f.maxModule, orPositive(err))
		}
		f.opts.Caps.MaxModuleBytes = int64(n)
	}
	if f.maxKV != "" {
		n, err := parseSize(f.maxKV)
		if err != nil || n == 0 || n > 1<<62 {
			return usagef("--max-kv-bytes %q: want a size such as 256MiB (%v)", f.maxKV, orPositive(err))
		}
		f.opts.Caps.MaxKVBytes = int64(n)
	}
	if f.maxPublishMessages < 0 {
		return usagef("--max-publish-messages %d: must be positive", f.maxPublishMessages)
	}
	f.opts.Caps.MaxThroughputMessagesPerSec = f.maxPublishMessages
	if f.maxRestarts < 0 {
		return usagef("--max-restarts %d: must be positive", f.maxRestarts)
	}
	if f.restartWindow < 0 || f.minBackoff < 0 {
		return usagef("--restart-window and --min-backoff must not be negative")
	}
	f.opts.Caps.MaxRestarts, f.opts.Caps.RestartWindow, f.opts.Caps.MinBackoff = f.maxRestarts, f.restartWindow, f.minBackoff
	return nil
}

// apply copies the parsed limits into opts.
func (f *limitFlags) apply(opts *actors.Options) {
	opts.MaxMemoryBytes = f.opts.MaxMemoryBytes
	opts.Caps = f.opts.Caps
}

func orPositive(err error) error {
	if err == nil {
		return fmt.Errorf("out of range")
	}
	return err
}

// sizeUnits are the accepted size suffixes, longest first.
var sizeUnits = []struct {
	suffix string
	factor uint64
}{
	{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"kB", 1e3},
	{"B", 1}, {"", 1},
}

// parseSize parses a byte size: an integer with an optional unit (B, KiB, MiB, GiB, TiB or
// the decimal kB, MB, GB, TB).
func parseSize(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	for _, u := range sizeUnits {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(num), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("not an integer with a unit B, KiB, MiB, GiB, TiB, kB, MB, GB or TB")
		}
		if n > ^uint64(0)/u.factor {
			return 0, fmt.Errorf("too large")
		}
		return n * u.factor, nil
	}
	return 0, fmt.Errorf("no size")
}

// formatSize renders n bytes with the largest binary unit that divides it.
func formatSize(n uint64) string {
	for _, u := range sizeUnits[:4] {
		if n >= u.factor && n%u.factor == 0 {
			return strconv.FormatUint(n/u.factor, 10) + u.suffix
		}
	}
	return strconv.FormatUint(n, 10) + "B"
}
