package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
)

// PressureChildCommand is the hidden subcommand of the astrid-actors binary (and of the bench
// test binary) that runs one pressure process: "cpu" spins, "mem SIZE" holds and touches
// SIZE bytes. It exits when its stdin closes, so it never outlives the bench.
const PressureChildCommand = "bench-pressure-child"

// MaxPressureCPU is the largest Pressure.CPU.
const MaxPressureCPU = 64

// Pressure is load put beside the scenarios for the whole run (Config.Pressure): CPU busy
// processes, each spinning on one thread, and one process holding and touching Mem bytes.
// The zero value puts none.
type Pressure struct {
	CPU int
	Mem int64
}

// String is the --pressure form, e.g. "cpu=4,mem=8G"; "none" for the zero value.
func (p Pressure) String() string {
	if p == (Pressure{}) {
		return "none"
	}
	var parts []string
	if p.CPU > 0 {
		parts = append(parts, fmt.Sprintf("cpu=%d", p.CPU))
	}
	if p.Mem > 0 {
		parts = append(parts, "mem="+formatSize(p.Mem))
	}
	return strings.Join(parts, ",")
}

// ParsePressure parses "cpu=N,mem=SIZE" (either part may be left out; SIZE is bytes with an
// optional K, M or G suffix, powers of 1024): N busy processes, at most MaxPressureCPU, and
// one process holding SIZE, at most 3/4 of the machine's memory where it is known.
func ParsePressure(s string) (Pressure, error) {
	var p Pressure
	if s == "" || s == "none" {
		return p, nil
	}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return p, fmt.Errorf("pressure %q: want cpu=N,mem=SIZE", s)
		}
		switch k {
		case "cpu":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > MaxPressureCPU {
				return p, fmt.Errorf("pressure cpu=%s: want 0 to %d busy processes", v, MaxPressureCPU)
			}
			p.CPU = n
		case "mem":
			n, err := parseSize(v)
			if err != nil {
				return p, fmt.Errorf("pressure mem=%s: %w", v, err)
			}
			if total, ok := memTotal(); ok && n > total/4*3 {
				return p, fmt.Errorf("pressure mem=%s: over 3/4 of the machine's %s", v, formatSize(total))
			}
			p.Mem = n
		default:
			return p, fmt.Errorf("pressure %q: unknown key %q (want cpu or mem)", s, k)
		}
	}
	return p, nil
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<50)/mult {
		return 0, errors.New("want a size in bytes with an optional K, M or G suffix")
	}
	return n * mult, nil
}

func formatSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dG", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dM", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dK", n>>10)
	}
	return strconv.FormatInt(n, 10)
}

// memTotal is MemTotal of /proc/meminfo in bytes.
func memTotal() (int64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// pressureProcs are the running pressure processes.
type pressureProcs struct {
	mu    sync.Mutex
	procs []*exec.Cmd
	stdin []io.Closer
}

// startPressure starts p's processes from exe and waits until the memory process holds its
// memory. On error it stops what it started.
func startPressure(exe string, p Pressure) (_ *pressureProcs, err error) {
	pp := &pressureProcs{}
	if p == (Pressure{}) {
		return pp, nil
	}
	if exe == "" {
		return nil, errors.New("pressure needs Config.Executable (the astrid-actors binary)")
	}
	defer func() {
		if err != nil {
			pp.stop()
		}
	}()
	start := func(args ...string) (*bufio.Reader, error) {
		cmd := exec.Command(exe, append([]string{PressureChildCommand}, args...)...)
		in, out, err := startChild(cmd, "pressure process")
		if err != nil {
			return nil, err
		}
		pp.procs, pp.stdin = append(pp.procs, cmd), append(pp.stdin, in)
		return bufio.NewReader(out), nil
	}
	for range p.CPU {
		if _, err := start("cpu"); err != nil {
			return nil, err
		}
	}
	if p.Mem > 0 {
		out, err := start("mem", strconv.FormatInt(p.Mem, 10))
		if err != nil {
			return nil, err
		}
		// it says "ready" once every page was written once
		line, err := out.ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "ready" {
			return nil, fmt.Errorf("pressure memory process did not get its %s: %q %v", formatSize(p.Mem), line, err)
		}
	}
	return pp, nil
}

// stop kills the pressure processes and waits for them. It may be called more than once and
// from several goroutines.
func (pp *pressureProcs) stop() {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	for _, in := range pp.stdin {
		_ = in.Close()
	}
	for _, cmd := range pp.procs {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	pp.procs, pp.stdin = nil, nil
}

// RunPressureChild runs one pressure process (PressureChildCommand): args "cpu" or
// "mem SIZE". It returns the exit code; it runs until its stdin closes.
func RunPressureChild(args []string) int {
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0) // the bench closed our stdin or died
	}()
	switch {
	case len(args) == 1 && args[0] == "cpu":
		runtime.GOMAXPROCS(1)
		spin()
	case len(args) == 2 && args[0] == "mem":
		n, err := strconv.ParseInt(args[1], 10, 64)
		if err != nil || n <= 0 {
			fmt.Fprintln(os.Stderr, PressureChildCommand+": mem: want a positive size in bytes")
			return 2
		}
		holdMemory(n)
	}
	fmt.Fprintln(os.Stderr, PressureChildCommand+": want cpu or mem SIZE")
	return 2
}

// spinSink keeps spin's loop from being optimized away.
var spinSink uint64

// spin burns one CPU forever.
func spin() {
	x := uint64(1)
	for {
		for range 1 << 20 {
			x = x*6364136223846793005 + 1442695040888963407
		}
		spinSink = x
	}
}

// holdMemory allocates n bytes, writes every page, says "ready" on stdout, then keeps
// writing one byte of every page, a pass every 100 ms, so that the memory stays resident and
// recently used.
func holdMemory(n int64) {
	debug.SetGCPercent(-1)
	buf := make([]byte, n)
	page := os.Getpagesize()
	touch := func(v byte) {
		for i := 0; i < len(buf); i += page {
			buf[i] = v
		}
	}
	touch(1)
	fmt.Println("ready")
	for v := byte(2); ; v++ {
		touch(v)
		time.Sleep(100 * time.Millisecond)
	}
}

// pageFaults are the minor and major page faults of this process so far (/proc/self/stat).
func pageFaults() (minor, major uint64, ok bool) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, 0, false
	}
	// the fields after the command name in parentheses: state is field 3, minflt 10, majflt 12
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 10 {
		return 0, 0, false
	}
	minor, err1 := strconv.ParseUint(f[7], 10, 64)
	major, err2 := strconv.ParseUint(f[9], 10, 64)
	return minor, major, err1 == nil && err2 == nil
}

// loadAverage is the 1-minute load average (/proc/loadavg), or -1.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}
