package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/astrid-actors/astrid-actors/actors"
)

// usagef returns a usage error (exit code 2).
func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exactArgs and minArgs are cobra argument checks whose failures are usage errors.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s: expected %s, got %d argument(s) (see astrid-actors %s --help)", cmd.Name(), what, len(args), cmd.Name())
		}
		return nil
	}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s: unexpected argument %q (see astrid-actors %s --help)", cmd.Name(), args[0], cmd.Name())
	}
	return nil
}

func minArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usagef("%s: expected %s (see astrid-actors %s --help)", cmd.Name(), what, cmd.Name())
		}
		return nil
	}
}

// lineWriter serialises whole-line writes of the command's own messages (status lines,
// notes, warnings) to one stream; every line is written with a single Write call, so lines
// never interleave with the logger's. With json set (--log-format json) every line is a JSON
// object with the logger's keys (level, ts, msg) plus its fields, so that the whole stream is
// JSON lines. With quiet set (--quiet) only warnings and errors are written.
type lineWriter struct {
	mu    sync.Mutex
	w     io.Writer
	json  bool
	quiet bool
}

// field is a key and value of a line written as JSON.
type field struct {
	key   string
	value any
}

// write writes one message at level ("info", "warn", "error"): text as is on a console, or
// a JSON object of msg and fields.
func (l *lineWriter) write(level, text, msg string, fields ...field) {
	if l.quiet && level == "info" {
		return
	}
	line := text
	if l.json {
		var b strings.Builder
		fmt.Fprintf(&b, `{"level":%s,"ts":%s,"msg":%s`, jsonString(level), jsonString(time.Now().UTC().Format("2006-01-02T15:04:05.000Z0700")), jsonString(msg))
		for _, f := range fields {
			v, err := json.Marshal(f.value)
			if err != nil {
				v, _ = json.Marshal(fmt.Sprint(f.value))
			}
			fmt.Fprintf(&b, `,%s:%s`, jsonString(f.key), v)
		}
		b.WriteString("}")
		line = b.String()
	}
	if !strings.HasSuffix(line, "\n") {
		line += "\n"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.w, line)
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// printf writes a preformatted line (an info message).
func (l *lineWriter) printf(format string, args ...any) {
	line := strings.TrimRight(fmt.Sprintf(format, args...), "\n")
	l.write("info", line, line)
}

// notef writes "astrid-actors: <message>" lines, one per line of the message; a message that
// starts with "warning: " is a warning.
func (l *lineWriter) notef(format string, args ...any) {
	for _, line := range strings.Split(strings.TrimRight(fmt.Sprintf(format, args...), "\n"), "\n") {
		level, msg := "info", line
		if rest, ok := strings.CutPrefix(line, "warning: "); ok {
			level, msg = "warn", rest
		}
		l.write(level, "astrid-actors: "+line, msg)
	}
}

// errorf writes an "astrid-actors: <message>" line at error level.
func (l *lineWriter) errorf(format string, args ...any) {
	msg := strings.TrimRight(fmt.Sprintf(format, args...), "\n")
	l.write("error", "astrid-actors: "+msg, msg)
}

// logFlags are the logger flags of the commands that run capsules.
type logFlags struct {
	level, format string
}

func (f *logFlags) register(cmd *cobra.Command, defaultLevel string) {
	cmd.Flags().StringVar(&f.level, "log-level", defaultLevel, "log level: debug, info, warn or error")
	cmd.Flags().StringVar(&f.format, "log-format", "console", "log format: console or json")
}

// validate checks the flag values (usage errors).
func (f *logFlags) validate() error {
	switch f.level {
	case "debug", "info", "warn", "error":
	default:
		return usagef("--log-level %q: must be debug, info, warn or error", f.level)
	}
	switch f.format {
	case "console", "json":
	default:
		return usagef("--log-format %q: must be console or json", f.format)
	}
	return nil
}

// logger builds the zap logger writing to w (stderr).
func (f *logFlags) logger(w io.Writer) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(f.level)
	if err != nil {
		return nil, usagef("--log-level %q: %v", f.level, err)
	}
	cfg := zap.NewProductionEncoderConfig()
	cfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	if f.format == "json" {
		enc = zapcore.NewJSONEncoder(cfg)
	} else {
		cfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(cfg)
	}
	out := zapcore.Lock(zapcore.AddSync(w))
	if level <= zapcore.WarnLevel {
		return zap.New(zapcore.NewCore(enc, out, level), zap.ErrorOutput(out)), nil
	}
	// The runtime derives its protoactor logger with zap.IncreaseLevel(warn), which zap
	// refuses (with a line on stderr) for a core that does not enable warn. So the core
	// claims to enable warn and drops those entries itself.
	return zap.New(&aboveWarnCore{Core: zapcore.NewCore(enc, out, zapcore.WarnLevel), level: level}, zap.ErrorOutput(out)), nil
}

// reportedMessages are the runtime's log messages that repeat what run prints itself: the
// LoadReport's problems and the lifecycle events of the status lines.
var reportedMessages = map[string]bool{
	"capsule not loaded": true, "manifest": true, "capsule not ready": true,
	"capsule crashed": true, "restarting capsule": true, "capsule failed": true,
	"watchdog stops a runaway capsule": true,
}

// withoutReported drops the runtime's log entries that the command reports itself, so that
// each problem is printed once, unless the level is debug (then everything is logged).
func withoutReported(log *zap.Logger, level string) *zap.Logger {
	if level == "debug" {
		return log
	}
	return log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return &dropCore{Core: c, drop: reportedMessages} }))
}

// dropCore is a core that drops the entries with the given messages.
type dropCore struct {
	zapcore.Core
	drop map[string]bool
}

func (c *dropCore) With(fields []zapcore.Field) zapcore.Core {
	return &dropCore{Core: c.Core.With(fields), drop: c.drop}
}

func (c *dropCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.drop[ent.Message] {
		return ce
	}
	return c.Core.Check(ent, ce)
}

// aboveWarnCore is a core for levels above warn that reports warn as enabled but writes only
// entries at its level or above.
type aboveWarnCore struct {
	zapcore.Core
	level zapcore.Level
}

func (c *aboveWarnCore) With(fields []zapcore.Field) zapcore.Core {
	return &aboveWarnCore{Core: c.Core.With(fields), level: c.level}
}

func (c *aboveWarnCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if ent.Level < c.level {
		return ce
	}
	return c.Core.Check(ent, ce)
}

// cacheFlag is the --cache-dir flag: the wazero compilation cache shared by every command.
type cacheFlag struct {
	dir string
	cmd *cobra.Command
}

func (c *cacheFlag) register(cmd *cobra.Command) {
	c.cmd = cmd
	cmd.Flags().StringVar(&c.dir, "cache-dir", defaultCacheDir(),
		`compilation cache directory ("" disables the cache)`)
}

// defaultCacheDir is os.UserCacheDir()/astrid-actors, or "" when there is no user cache
// directory.
func defaultCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "astrid-actors")
}

// engineOptions returns the engine options for the flag.
func (c *cacheFlag) engineOptions() actors.EngineOptions {
	return actors.EngineOptions{CacheDir: c.dir}
}

// explicit reports whether --cache-dir was given on the command line.
func (c *cacheFlag) explicit() bool { return c.cmd != nil && c.cmd.Flags().Changed("cache-dir") }

// newRuntime creates a runtime. When the default cache directory cannot be used, it falls back
// to no cache (with a warning on notes); an explicit --cache-dir that cannot be used is an
// error.
func newRuntime(ctx context.Context, opts actors.Options, cache *cacheFlag, notes *lineWriter) (*actors.Runtime, error) {
	opts.Engine = cache.engineOptions()
	r, err := actors.New(ctx, opts)
	if err != nil && opts.Engine.CacheDir != "" && !cache.explicit() {
		notes.notef("warning: compilation cache disabled: %v", err)
		opts.Engine.CacheDir = ""
		r, err = actors.New(ctx, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("start runtime: %w", err)
	}
	return r, nil
}

// newEngine creates a bare engine (for compiling without running), with the same cache
// fallback as newRuntime.
func newEngine(ctx context.Context, cache *cacheFlag, notes *lineWriter) (*actors.Engine, error) {
	opts := cache.engineOptions()
	e, err := actors.NewEngine(ctx, opts)
	if err != nil && opts.CacheDir != "" && !cache.explicit() {
		notes.notef("warning: compilation cache disabled: %v", err)
		opts.CacheDir = ""
		e, err = actors.NewEngine(ctx, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("start engine: %w", err)
	}
	return e, nil
}

// checkDirs fails for arguments that are not existing directories.
func checkDirs(dirs []string) error {
	for _, d := range dirs {
		fi, err := os.Stat(d)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("%s: no such directory", d)
		case err != nil:
			return err
		case !fi.IsDir():
			return fmt.Errorf("%s: not a directory", d)
		}
	}
	return nil
}

// shortID abbreviates an instance UUID for status lines.
func shortID(id fmt.Stringer) string {
	s := id.String()
	if len(s) > 8 {
		return s[:8] + "…"
	}
	return s
}

// oneLine replaces line breaks so that a message stays on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}
