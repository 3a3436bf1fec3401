package linelog

import (
	"strings"
	"testing"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/astrid-actors/astrid-actors/hostfuncs"
	"github.com/astrid-actors/astrid-actors/internal/leakcheck"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakcheck.Options()...)
}

// The line logger splits writes into lines, keeps at most MaxLine bytes of one and says how
// many it cut.
func TestLineLoggerSplitsAndTruncates(t *testing.T) {
	long := strings.Repeat("y", MaxLine+10)
	for _, tc := range []struct {
		name   string
		writes []string
		want   []string // lines written
		cut    []int64  // truncated_bytes of each line (0: none)
	}{
		{"lines in one write", []string{"a\nb\n"}, []string{"a", "b"}, []int64{0, 0}},
		{"a line over writes", []string{"a", "b", "c\n"}, []string{"abc"}, []int64{0}},
		{"empty line", []string{"\n"}, []string{""}, []int64{0}},
		{"partial line at flush", []string{"a\nb"}, []string{"a", "b"}, []int64{0, 0}},
		{"long line in one write", []string{long + "\nz\n"}, []string{long[:MaxLine], "z"}, []int64{10, 0}},
		{"long line over writes", []string{long[:MaxLine-1], "yy", long, "\n"}, []string{long[:MaxLine]}, []int64{MaxLine + 11}},
		{"long line at flush", []string{long}, []string{long[:MaxLine]}, []int64{10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.InfoLevel)
			l := New(zap.New(core), zapcore.InfoLevel, "stdout", hostfuncs.FnWASIStdout, nil)
			for _, w := range tc.writes {
				if n, err := l.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			l.Flush()
			got := logs.All()
			if len(got) != len(tc.want) {
				t.Fatalf("%d lines written, want %d", len(got), len(tc.want))
			}
			for i, e := range got {
				cut, _ := e.ContextMap()["truncated_bytes"].(int64)
				if e.Message != tc.want[i] || cut != tc.cut[i] {
					t.Errorf("line %d: %d bytes, truncated_bytes %d; want %d bytes, %d", i, len(e.Message), cut, len(tc.want[i]), tc.cut[i])
				}
			}
			if len(l.buf) > 0 || cap(l.buf) > MaxLine {
				t.Errorf("buffer %d bytes, capacity %d after flush", len(l.buf), cap(l.buf))
			}
		})
	}
}
