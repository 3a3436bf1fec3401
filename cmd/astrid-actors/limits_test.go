package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/astrid-actors/astrid-actors/actors"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"512MiB", 512 << 20, true},
		{"4GiB", 4 << 30, true},
		{"64KiB", 64 << 10, true},
		{"1TiB", 1 << 40, true},
		{"10MB", 10e6, true},
		{"1kB", 1000, true},
		{"4096", 4096, true},
		{"7B", 7, true},
		{"1.5GiB", 0, false},
		{"-1MiB", 0, false},
		{"GiB", 0, false},
		{"4 parsecs", 0, false},
		{"99999999999TiB", 0, false},
	} {
		got, err := parseSize(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestLimitFlags(t *testing.T) {
	f := limitFlags{maxMemory: "2GiB", maxCapsuleMemory: "128MiB", maxPublish: "1MiB", maxModule: "8MiB", maxKV: "2MiB", maxPublishMessages: 500, maxRestarts: 7,
		restartWindow: time.Minute, minBackoff: time.Second}
	if err := f.validate(); err != nil {
		t.Fatal(err)
	}
	var opts actors.Options
	f.apply(&opts)
	want := actors.Caps{MaxMemoryPages: 2048, MaxRestarts: 7, RestartWindow: time.Minute, MinBackoff: time.Second,
		MaxThroughputBytesPerSec: 1 << 20, MaxModuleBytes: 8 << 20, MaxKVBytes: 2 << 20, MaxThroughputMessagesPerSec: 500}
	if opts.MaxMemoryBytes != 2<<30 || opts.Caps != want {
		t.Fatalf("options %d %+v", opts.MaxMemoryBytes, opts.Caps)
	}
	for _, bad := range []limitFlags{{maxMemory: "0"}, {maxMemory: "lots"}, {maxCapsuleMemory: "2GiB"},
		{maxCapsuleMemory: "1KiB"}, {maxPublish: "0"}, {maxModule: "2GiB"}, {maxRestarts: -1}, {maxPublishMessages: -1}, {restartWindow: -time.Second}} {
		if err := bad.validate(); err == nil || !isUsageError(err) {
			t.Errorf("%+v: %v, want a usage error", bad, err)
		}
	}
}

func TestLoopbackOnly(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:9470": true, "localhost:9470": true, "[::1]:9470": true, "127.1.2.3:1": true,
		":9470": false, "0.0.0.0:9470": false, "[::]:9470": false, "192.168.1.5:9470": false, "example.com:80": false,
	} {
		if got := loopbackOnly(addr); got != want {
			t.Errorf("loopbackOnly(%q) = %v, want %v", addr, got, want)
		}
	}
}

// serveMetrics runs a metrics server with the given limits on a loopback port.
func serveMetrics(t *testing.T, l serverLimits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := newMetrics()
	m.limits = l
	m.serve(ln, &lineWriter{w: io.Discard})
	t.Cleanup(m.shutdown)
	return ln.Addr().String()
}

// request sends one keep-alive request on c and reads the response.
func request(t *testing.T, c net.Conn, r *bufio.Reader) {
	t.Helper()
	if _, err := io.WriteString(c, "GET /capsules HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s", resp.Status)
	}
}

// closedWithin waits until the server closes c, for at most d.
func closedWithin(t *testing.T, c net.Conn, r *bufio.Reader, d time.Duration) {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(d))
	_, err := r.ReadByte()
	if !errors.Is(err, io.EOF) {
		t.Fatalf("after %v: %v, want the server to close the connection", time.Since(start), err)
	}
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

// Idle keep-alive connections and clients that never finish their headers are closed by
// the server.
func TestMetricsServerTimeouts(t *testing.T) {
	t.Parallel()
	addr := serveMetrics(t, serverLimits{ReadHeader: 100 * time.Millisecond, Read: 200 * time.Millisecond,
		Write: time.Second, Idle: 200 * time.Millisecond, MaxConns: 8})
	idle, idleR := dial(t, addr)
	request(t, idle, idleR)
	slow, slowR := dial(t, addr)
	if _, err := io.WriteString(slow, "GET /metrics HTTP/1.1\r\nHost: x\r\n"); err != nil { // never ends
		t.Fatal(err)
	}
	closedWithin(t, idle, idleR, 5*time.Second)
	// The server answers a header timeout with 408 or just closes; either way it ends.
	_ = slow.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(slowR); err != nil {
		t.Fatalf("slow client: %v, want the server to close the connection", err)
	}
}

// At most MaxConns connections are served at once: the next one waits until one closes.
func TestMetricsServerConnectionCap(t *testing.T) {
	t.Parallel()
	addr := serveMetrics(t, serverLimits{ReadHeader: 5 * time.Second, Read: 5 * time.Second, Write: 5 * time.Second,
		Idle: time.Minute, MaxConns: 2})
	a, aR := dial(t, addr)
	request(t, a, aR)
	b, bR := dial(t, addr)
	request(t, b, bR)
	c, cR := dial(t, addr)
	if _, err := io.WriteString(c, "GET /capsules HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := cR.Peek(1); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("third connection: %v, want no answer while two are open", err)
	}
	a.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(cR, nil)
	if err != nil {
		t.Fatalf("third connection after one closed: %v", err)
	}
	resp.Body.Close()
}

// --metrics on a non-loopback address warns; --max-memory refuses capsules that do not fit.
func TestRunLimitsFlags(t *testing.T) {
	t.Parallel()
	dir := demoCapsules(t)
	res := cli(t, "run", "--metrics", "0.0.0.0:0", "--exit-after", "10ms", dir)
	if res.code != 0 || !strings.Contains(res.stderr, "warning: --metrics 0.0.0.0:0 listens beyond loopback") {
		t.Fatalf("run --metrics 0.0.0.0:0: %v", res)
	}
	res = cli(t, "run", "--max-memory", "100MiB", "--exit-after", "10ms", dir)
	if res.code != 0 || !strings.Contains(res.stderr, "does not fit: host memory budget exceeded") {
		t.Fatalf("run --max-memory 100MiB: %v", res)
	}
	res = cli(t, "run", "--max-memory", "lots", dir)
	if res.code != 2 || !strings.Contains(res.stderr, "--max-memory") {
		t.Fatalf("run --max-memory lots: %v", res)
	}
}
