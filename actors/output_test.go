package actors

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/hostfuncs"
	"github.com/astrid-actors/astrid-actors/internal/linelog"
	"github.com/astrid-actors/astrid-actors/internal/syncbuf"
	"github.com/astrid-actors/astrid-actors/supervision"
)

// A hostile capsule flooding its WASI stdout and stderr (stdoutflood.wat: 100 000 and 50 000
// lines, and one 1 MiB line without a newline first): its output goes through the capsule's
// log budget, so the JSON log stays far under 1 MB/s; every line is written or counted exactly
// as refused (wasi-stdout / wasi-stderr, rate-limited) in the capsule's status and audit log;
// the long line is written cut to 16 KiB and counted (too-large).
func TestWASIOutputFloodIsBounded(t *testing.T) {
	out := &syncbuf.Buffer{}
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	r := newRuntimeWithLogger(t, zap.New(zapcore.NewCore(enc, zapcore.AddSync(out), zapcore.InfoLevel)))
	p := policy(0)
	p.Restart = supervision.Temporary
	start := time.Now()
	c := startCapsule(t, r, CapsuleSpec{ID: "flood", Module: compile(t, r, "testdata/wat/stdoutflood.wasm"), Policy: p})
	waitDone(t, c)
	elapsed := time.Since(start)
	st := c.Status()
	if st.State != StateExited {
		t.Fatalf("status %+v, want exited", st)
	}
	const stdoutLines, stderrLines = 100_000, 50_000 + 1
	logged := out.Bytes()
	written := map[string]int{}
	audited := map[[2]string]uint64{}
	truncated := 0
	sc := bufio.NewScanner(bytes.NewReader(logged))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e struct {
			Msg       string `json:"msg"`
			Stream    string `json:"stream"`
			Fn        string `json:"fn"`
			Error     string `json:"error"`
			Repeated  uint64 `json:"repeated"`
			Truncated int    `json:"truncated_bytes"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("log line %q: %v", sc.Bytes(), err)
		}
		switch {
		case e.Stream != "":
			written[e.Stream]++
			if e.Truncated > 0 {
				truncated++
				if e.Stream != "stderr" || e.Msg != strings.Repeat("y", linelog.MaxLine) || e.Truncated != 1<<20-linelog.MaxLine {
					t.Errorf("truncated line on %s: %d bytes, truncated_bytes %d", e.Stream, len(e.Msg), e.Truncated)
				}
			}
		case e.Msg == "audit":
			audited[[2]string{e.Fn, e.Error}] += max(e.Repeated, 1)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	refused := func(fn string, code abi.Code) uint64 {
		for _, rf := range st.Refused {
			if rf.Fn == fn && rf.Code == code {
				return rf.Count
			}
		}
		return 0
	}
	perSec := float64(len(logged)) / elapsed.Seconds()
	t.Logf("%d+%d output lines in %v: written %v, status refused %v, %d bytes of log (%.0f B/s)",
		stdoutLines, stderrLines, elapsed.Round(time.Millisecond), written, st.Refused, len(logged), perSec)
	if perSec >= 1e6 {
		t.Errorf("log at %.0f bytes/s, want < 1 MB/s", perSec)
	}
	windows := int(elapsed/time.Second) + 1
	if total := written["stdout"] + written["stderr"]; total == 0 || total > hostfuncs.DefaultLogLinesPerSec*windows {
		t.Errorf("%d output lines written in %d budget windows of %d lines", total, windows, hostfuncs.DefaultLogLinesPerSec)
	}
	for _, s := range []struct {
		stream, fn string
		lines      int
	}{{"stdout", hostfuncs.FnWASIStdout, stdoutLines}, {"stderr", hostfuncs.FnWASIStderr, stderrLines}} {
		n := refused(s.fn, abi.RateLimited)
		if uint64(written[s.stream])+n != uint64(s.lines) {
			t.Errorf("%s: %d written + %d refused, want %d lines", s.stream, written[s.stream], n, s.lines)
		}
		if a := audited[[2]string{s.fn, "rate-limited"}]; a != n {
			t.Errorf("%s: the audit log accounts for %d refused lines, the status for %d", s.stream, a, n)
		}
	}
	if truncated != 1 || refused(hostfuncs.FnWASIStderr, abi.TooLarge) != 1 {
		t.Errorf("%d truncated lines written, %d counted; want 1", truncated, refused(hostfuncs.FnWASIStderr, abi.TooLarge))
	}
}
