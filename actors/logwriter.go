package actors

import (
	"bytes"
	"sync"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// maxLogLine bounds how much of an unterminated guest output line is buffered.
const maxLogLine = 16 << 10

// lineLogger turns a guest's stdout or stderr into one log entry per line.
type lineLogger struct {
	log    *zap.Logger
	level  zapcore.Level
	stream string

	mu  sync.Mutex
	buf []byte
}

func newLineLogger(log *zap.Logger, level zapcore.Level, stream string) *lineLogger {
	return &lineLogger{log: log, level: level, stream: stream}
}

// Write implements io.Writer.
func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.emit(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > maxLogLine {
		l.emit(l.buf)
		l.buf = l.buf[:0]
	}
	return len(p), nil
}

// Flush logs a trailing partial line.
func (l *lineLogger) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(l.buf)
		l.buf = nil
	}
}

func (l *lineLogger) emit(line []byte) {
	if ce := l.log.Check(l.level, string(line)); ce != nil {
		ce.Write(zap.String("stream", l.stream))
	}
}
