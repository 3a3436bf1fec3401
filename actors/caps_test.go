package actors

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/astrid-actors/astrid-actors/manifest"
)

// hostileManifest writes a capsule directory whose manifest asks for far more than any host
// should grant: a million restarts within 10 s without backoff, 1 GiB of memory, a terabyte
// per second of publishing.
func hostileManifest(t *testing.T, wasm string, limits string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "guest.wasm"), readWasm(t, wasm), 0o644); err != nil {
		t.Fatal(err)
	}
	toml := `[package]
name = "hostile"
version = "1.0.0"

[[component]]
id = "main"
file = "guest.wasm"

[limits]
` + limits + `

[supervision]
max_restarts = 1000000
within = "10s"
backoff_initial = "0s"
backoff_max = "0s"
`
	if err := os.WriteFile(filepath.Join(dir, "Capsule.toml"), []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func newCapsRuntime(t *testing.T, caps Caps) *Runtime {
	t.Helper()
	return newRuntimeWith(t, Options{Caps: caps})
}

// A crash-looping capsule whose manifest allows a million restarts in 10 s is restarted only
// as often as the host's cap allows, then fails.
func TestCapsBoundHostileRestartIntensity(t *testing.T) {
	tests := []struct {
		name         string
		caps         Caps
		wantRestarts int
	}{
		{"operator cap", Caps{MaxRestarts: 3, RestartWindow: time.Minute}, 3},
		{"default cap", Caps{}, DefaultCapMaxRestarts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newCapsRuntime(t, tt.caps)
			m, err := manifest.Load(filepath.Join(hostileManifest(t, "testdata/wat/trap.wasm", "memory_pages = 1"), "Capsule.toml"))
			if err != nil {
				t.Fatal(err)
			}
			c, err := r.LoadManifest(context.Background(), m)
			if err != nil {
				t.Fatal(err)
			}
			waitDone(t, c)
			st := c.Status()
			if st.State != StateFailed || st.Restarts != tt.wantRestarts || st.Instances != tt.wantRestarts+1 {
				t.Fatalf("status %+v, want failed after %d restarts", st, tt.wantRestarts)
			}
			if !strings.Contains(st.LastError, "restart intensity exceeded") {
				t.Fatalf("last error %q", st.LastError)
			}
		})
	}
}

// A manifest asking for more memory than the host's cap is refused with a clear error.
func TestCapsRefuseMemoryOverTheCap(t *testing.T) {
	r := newCapsRuntime(t, Caps{MaxMemoryPages: 1024})
	rep, err := r.Load(context.Background(), hostileManifest(t, "testdata/wat/echo.wasm", "memory_pages = 16384"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Started) != 0 || len(rep.Errors) != 1 {
		t.Fatalf("report %+v, want the hostile capsule refused", rep)
	}
	msg := rep.Errors[0].Error()
	for _, want := range []string{"capsule hostile", "memory_pages = 16384 (1 GiB)", "host's cap of 1024 pages (64 MiB", "--max-capsule-memory"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
}

// A manifest asking to read a larger module than the host's cap is refused before anything is
// read; without module_bytes the module is read with the cap as its limit.
func TestCapsModuleSize(t *testing.T) {
	r := newCapsRuntime(t, Caps{MaxModuleBytes: 64})
	rep, err := r.Load(context.Background(), hostileManifest(t, "testdata/wat/echo.wasm", "module_bytes = 1073741824"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0].Error(), "module_bytes = 1073741824 is over the host's cap of 64") {
		t.Fatalf("report %+v, want the module limit refused", rep)
	}
	rep, err = r.Load(context.Background(), hostileManifest(t, "testdata/wat/echo.wasm", ""))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) != 1 || !errors.Is(rep.Errors[0], manifest.ErrModuleTooLarge) || !strings.Contains(rep.Errors[0].Error(), "the limit is 64") {
		t.Fatalf("report %+v, want echo.wasm refused by the cap as its limit", rep)
	}
}

// capSpec lowers what a manifest asks for to the caps and keeps what is within them.
func TestCapSpec(t *testing.T) {
	r := newCapsRuntime(t, Caps{MaxMemoryPages: 512, MaxRestarts: 10, RestartWindow: time.Minute,
		MinBackoff: 50 * time.Millisecond, MaxThroughputBytesPerSec: 1 << 20, MaxKVBytes: 4096, MaxThroughputMessagesPerSec: 1000})
	mod := compile(t, r, "testdata/wat/echo.wasm")
	tests := []struct {
		name, limits, supervision string
		want                      string // pages throughput max_restarts within backoff_initial backoff_max kv_bytes messages/s
	}{
		{"hostile", "ipc_throughput_bytes_per_sec = 1000000000000\nipc_throughput_messages_per_sec = 1000000000\nkv_bytes = 9223372036854775807", `max_restarts = 1000000
within = "10s"
backoff_initial = "0s"
backoff_max = "0s"`, "512 1048576 10 1m0s 50ms 50ms 4096 1000"},
		{"within the caps", "memory_pages = 256\nipc_throughput_bytes_per_sec = 4096", `max_restarts = 1
within = "10s"
backoff_initial = "100ms"`, "256 4096 1 10s 100ms 30s 0 1000"},
		{"2 within 10s is 12 a minute", "", `max_restarts = 2
within = "10s"`, "512 1048576 2 12s 100ms 30s 0 1000"},
		{"short window, few restarts", "", `max_restarts = 5
within = "1s"`, "512 1048576 5 30s 100ms 30s 0 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			toml := "[package]\nname = \"c\"\nversion = \"1.0.0\"\n\n[[component]]\nid = \"main\"\nfile = \"c.wasm\"\n\n[limits]\n" +
				tt.limits + "\n\n[supervision]\n" + tt.supervision + "\n"
			m, err := manifest.Parse([]byte(toml), "Capsule.toml")
			if err != nil {
				t.Fatal(err)
			}
			spec, err := SpecFromManifest(m, mod)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.capSpec(&spec); err != nil {
				t.Fatal(err)
			}
			p := spec.Policy
			got := strings.Join([]string{strconv.Itoa(int(spec.Limits.MemoryPages)), strconv.Itoa(spec.Limits.IPC.ThroughputBytesPerSec),
				strconv.Itoa(p.MaxRestarts), p.Within.String(), p.BackoffInitial.String(), p.BackoffMax.String(),
				strconv.FormatInt(spec.Limits.KVBytes, 10), strconv.Itoa(spec.Limits.IPC.ThroughputMessagesPerSec)}, " ")
			if got != tt.want {
				t.Fatalf("capped to %s, want %s", got, tt.want)
			}
		})
	}
}

// restartWindowFor lengthens a window only as much as the cap needs.
func TestRestartWindowFor(t *testing.T) {
	c := Caps{MaxRestarts: 100, RestartWindow: time.Minute}
	tests := []struct {
		n       int
		w, want time.Duration
	}{
		{100, 10 * time.Second, time.Minute},    // 600 a minute: one window per minute
		{3, 10 * time.Second, 10 * time.Second}, // 18 a minute: kept
		{5, time.Second, 3 * time.Second},       // 300 a minute: 20 windows of 3 s
		{100, 2 * time.Minute, 2 * time.Minute}, // longer than the cap's window: kept
		{1, time.Millisecond, 600 * time.Millisecond},
	}
	for _, tt := range tests {
		got := c.restartWindowFor(tt.n, tt.w)
		if got != tt.want {
			t.Errorf("restartWindowFor(%d, %v) = %v, want %v", tt.n, tt.w, got, tt.want)
		}
		// The bound holds: n restarts per window of got is at most MaxRestarts per minute.
		windows := int((c.RestartWindow + got - 1) / got)
		if tt.n*windows > c.MaxRestarts {
			t.Errorf("n=%d w=%v: %d restarts a minute", tt.n, got, tt.n*windows)
		}
	}
}
