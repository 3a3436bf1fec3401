package hostfuncs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/internal/syncbuf"
)

// productionLogger logs JSON at info, like the CLI's default logger, into w.
func productionLogger(w *syncbuf.Buffer) *zap.Logger {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return zap.New(zapcore.NewCore(enc, w, zapcore.InfoLevel))
}

// refusalsLogged sums, over the audit lines of (fn, code), 1 per line of its own and the
// "repeated" count of each summary line.
func refusalsLogged(t *testing.T, out []byte, fn string, code abi.Code) uint64 {
	t.Helper()
	var n uint64
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var line struct {
			Msg      string  `json:"msg"`
			Fn       string  `json:"fn"`
			Error    string  `json:"error"`
			Repeated *uint64 `json:"repeated"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %q: %v", sc.Bytes(), err)
		}
		if line.Msg != "audit" || line.Fn != fn || line.Error != code.String() {
			continue
		}
		if line.Repeated != nil {
			n += *line.Repeated
		} else {
			n++
		}
	}
	return n
}

// A hostile capsule floods refused publishes (rate-limited and capability-denied) as fast as it
// can: the audit log stays far under 1 MB/s, and every refusal is counted exactly, both in
// Shared.Refused (the metrics) and in the log's lines and summaries.
func TestRefusalFloodKeepsTheLogSmall(t *testing.T) {
	w := newWorld(t)
	out := &syncbuf.Buffer{}
	flood := w.compile("flood.wasm")
	log := productionLogger(out)
	g := w.guestOf(flood, Config{CapsuleID: "flooder", Logger: log,
		Grants: Grants{Publish: []string{"flood"}}, Limits: Limits{ThroughputMessagesPerSec: 10}})
	// A second capsule floods a denied topic (in the first one, the spent rate budget would
	// answer first: the rate limit is checked before the ACL).
	g2 := w.guestOf(flood, Config{CapsuleID: "prober", Logger: log, Grants: Grants{Publish: []string{"flood"}}})
	const n = 50_000
	start := time.Now()
	rateLimited := uint64(g.call("flood", n, 16, 5))
	denied := uint64(g2.call("flood", n, 32, 6))
	elapsed := time.Since(start)
	g.in.FlushAudit()
	g2.in.FlushAudit()
	logged := out.Bytes()

	if denied != n || rateLimited < n-100 {
		t.Fatalf("refused %d of %d rate-limited publishes and %d of %d denied ones", rateLimited, n, denied, n)
	}
	perSec := float64(len(logged)) / elapsed.Seconds()
	t.Logf("%d refused calls in %v: %d bytes of log, %.0f B/s (one line each would be about %d bytes)",
		2*n, elapsed.Round(time.Millisecond), len(logged), perSec, 2*n*200)
	if perSec >= 1e6 {
		t.Fatalf("audit log at %.0f bytes/s, want < 1 MB/s", perSec)
	}
	for _, c := range []struct {
		g    *guest
		code abi.Code
		want uint64
	}{{g, abi.RateLimited, rateLimited}, {g2, abi.CapabilityDenied, denied}} {
		if got := refusedCount(c.g.in.shared, fnPublish, c.code); got != c.want {
			t.Errorf("%v: %d refusals counted, the guest saw %d", c.code, got, c.want)
		}
		if got := refusalsLogged(t, logged, fnPublish, c.code); got != c.want {
			t.Errorf("%v: the audit log accounts for %d refusals, the guest saw %d", c.code, got, c.want)
		}
	}
}

// Aggregation per interval, with an injected clock: the first refusal of an interval gets a
// line of its own, the rest of the interval one summary line with their number, written when
// the next interval starts or at release.
func TestRefusalAuditIntervals(t *testing.T) {
	w := newWorld(t)
	clock := time.Unix(1e9, 0)
	shared := NewShared(Limits{}, SharedOptions{Now: func() time.Time { return clock }, AuditInterval: time.Second})
	g := w.guestOf(w.compile("flood.wasm"), Config{Grants: Grants{Publish: []string{"flood"}}, Shared: shared})
	audit := func() []map[string]any {
		var out []map[string]any
		for _, e := range w.logs.FilterMessage("audit").All() {
			if e.Level == zapcore.InfoLevel {
				out = append(out, e.ContextMap())
			}
		}
		return out
	}
	if r := g.call("flood", 100, 32, 6); r != 100 {
		t.Fatalf("refused %d of 100", r)
	}
	if lines := audit(); len(lines) != 1 || lines[0]["error"] != "capability-denied" || lines[0]["topic"] != "denied" {
		t.Fatalf("after the first interval's refusals: %v", lines)
	}
	clock = clock.Add(time.Second)
	g.call("flood", 50, 32, 6)
	lines := audit()
	if len(lines) != 3 || lines[1]["repeated"] != uint64(99) || lines[2]["repeated"] != nil {
		t.Fatalf("after the second interval started: %v", lines)
	}
	g.in.Release(t.Context())
	lines = audit()
	if len(lines) != 4 || lines[3]["repeated"] != uint64(49) || lines[3]["security_event"] != true {
		t.Fatalf("after release: %v", lines)
	}
	if got := refusedCount(shared, fnPublish, abi.CapabilityDenied); got != 150 {
		t.Fatalf("%d refusals counted, want 150", got)
	}
}

// A capsule flooding sys log at info: the capsule's log budget (100 lines/s by default) bounds
// what reaches the log, far under 1 MB/s, and every line over it is refused (rate-limited) and
// counted exactly.
func TestLogFloodIsBounded(t *testing.T) {
	w := newWorld(t)
	out := &syncbuf.Buffer{}
	g := w.guestOf(w.compile("flood.wasm"), Config{CapsuleID: "chatty", Logger: productionLogger(out)})
	const n = 50_000
	start := time.Now()
	refused := uint64(g.call("logflood", n))
	elapsed := time.Since(start)
	g.in.FlushAudit()
	logged := out.Bytes()
	written := uint64(bytes.Count(logged, []byte(`"msg":"`+string(bytes.Repeat([]byte("x"), 100))+`"`)))
	// The budget is per window of one second: a flood faster than a second still had a whole
	// window's budget, so the rate is the bytes over the windows the flood touched.
	windows := uint64(elapsed/time.Second) + 1
	perSec := float64(len(logged)) / float64(windows)
	t.Logf("%d log calls in %v: %d written, %d refused, %d bytes of log (%.0f B per second window)", n, elapsed.Round(time.Millisecond), written, refused, len(logged), perSec)
	if written+refused != n || written > DefaultLogLinesPerSec*windows || written == 0 {
		t.Fatalf("%d written + %d refused of %d calls in %d windows", written, refused, n, windows)
	}
	if perSec >= 1e6 {
		t.Fatalf("log at %.0f bytes/s, want < 1 MB/s", perSec)
	}
	if got := refusedCount(g.in.shared, fnLog, abi.RateLimited); got != refused {
		t.Fatalf("%d refused log calls counted, the guest saw %d", got, refused)
	}
	if got := refusalsLogged(t, logged, fnLog, abi.RateLimited); got != refused {
		t.Fatalf("the audit log accounts for %d refused log calls, the guest saw %d", got, refused)
	}
}
