package actors

import (
	"bytes"
	"sync"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// maxLogLine bounds a guest output line: the bytes of a line past it are dropped (and counted),
// so a guest writing megabytes without a newline holds at most this much host memory.
const maxLogLine = 16 << 10

// outputBudget is the capsule's log budget as the line logger sees it (hostfuncs.Instance).
type outputBudget interface {
	// AdmitOutput reports whether a line of n bytes may be written, counting it if not.
	AdmitOutput(fn string, n int) bool
	// TruncatedOutput counts a line cut at maxLogLine.
	TruncatedOutput(fn string)
}

// lineLogger turns a guest's stdout or stderr into one log entry per line. Every line goes
// through the capsule's log budget: lines over it are not written (the budget counts and
// audits them, as rate-limited). A line longer than maxLogLine is written cut, with the number
// of bytes cut in the field "truncated_bytes", and counted by the budget as too-large.
type lineLogger struct {
	log    *zap.Logger
	level  zapcore.Level
	stream string
	fn     string       // audit name of the stream (hostfuncs.FnWASIStdout, FnWASIStderr)
	budget outputBudget // nil: no budget (tests)

	mu      sync.Mutex
	buf     []byte // the current line, at most maxLogLine bytes
	dropped int    // bytes of the current line past maxLogLine
}

func newLineLogger(log *zap.Logger, level zapcore.Level, stream, fn string, budget outputBudget) *lineLogger {
	return &lineLogger{log: log, level: level, stream: stream, fn: fn, budget: budget}
}

// Write implements io.Writer. It never fails: what is not written is counted.
func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		seg := p
		if i >= 0 {
			seg = p[:i]
		}
		room := maxLogLine - len(l.buf)
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
func (l *lineLogger) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 || l.dropped > 0 {
		l.emit()
	}
	l.buf = nil
}

// emit writes the current line, if its level is enabled and the budget admits it, and resets it.
func (l *lineLogger) emit() {
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
