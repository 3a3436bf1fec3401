// Package linelog turns a guest's WASI stdout or stderr into log entries, one per line, through
// the capsule's log budget: a line over the budget is counted, not written, and a line longer
// than MaxLine is written cut. The capsule's worker (internal/capsuleactor) makes one Logger per
// stream and instance.
package linelog

import (
	"bytes"
	"sync"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// MaxLine bounds a guest output line: the bytes of a line past it are dropped (and counted),
// so a guest writing megabytes without a newline holds at most this much host memory.
const MaxLine = 16 << 10

// Budget is the capsule's log budget as the line logger sees it (hostfuncs.Instance).
type Budget interface {
	// AdmitOutput reports whether a line of n bytes may be written, counting it if not.
	AdmitOutput(fn string, n int) bool
	// TruncatedOutput counts a line cut at MaxLine.
	TruncatedOutput(fn string)
}

// Logger turns a guest's stdout or stderr into one log entry per line. Every line goes
// through the capsule's log budget: lines over it are not written (the budget counts and
// audits them, as rate-limited). A line longer than MaxLine is written cut, with the number
// of bytes cut in the field "truncated_bytes", and counted by the budget as too-large.
type Logger struct {
	log    *zap.Logger
	level  zapcore.Level
	stream string
	fn     string // audit name of the stream (hostfuncs.FnWASIStdout, FnWASIStderr)
	budget Budget // nil: no budget (tests)

	mu      sync.Mutex
	buf     []byte // the current line, at most MaxLine bytes
	dropped int    // bytes of the current line past MaxLine
}

// New returns the Logger of one stream: lines go to log at level with the field stream, and
// through budget (nil: none) under the audit name fn (hostfuncs.FnWASIStdout, FnWASIStderr).
func New(log *zap.Logger, level zapcore.Level, stream, fn string, budget Budget) *Logger {
	return &Logger{log: log, level: level, stream: stream, fn: fn, budget: budget}
}

// Write implements io.Writer. It never fails: what is not written is counted.
func (l *Logger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		seg := p
		if i >= 0 {
			seg = p[:i]
		}
		room := MaxLine - len(l.buf)
		if len(seg) > room {
			l.dropped += len(seg) - room
			seg = seg[:room]
		}
		l.buf = append(l.buf, seg...)
		if i < 0 {
			break
		}
		l.emit()
		p = p[i+1:]
	}
	return n, nil
}

// Flush logs a trailing partial line.
func (l *Logger) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 || l.dropped > 0 {
		l.emit()
	}
	l.buf = nil
}

// emit writes the current line, if its level is enabled and the budget admits it, and resets it.
func (l *Logger) emit() {
	line, dropped := l.buf, l.dropped
	l.buf, l.dropped = l.buf[:0], 0
	if !l.log.Core().Enabled(l.level) {
		return // a disabled level costs nothing, not even budget
	}
	if l.budget != nil {
		if !l.budget.AdmitOutput(l.fn, len(line)) {
			return
		}
		if dropped > 0 {
			l.budget.TruncatedOutput(l.fn)
		}
	}
	if ce := l.log.Check(l.level, string(line)); ce != nil {
		fields := []zap.Field{zap.String("stream", l.stream)}
		if dropped > 0 {
			fields = append(fields, zap.Int("truncated_bytes", dropped))
		}
		ce.Write(fields...)
	}
}
