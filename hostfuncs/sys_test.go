package hostfuncs

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap/zapcore"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/bus"
)

func TestSysLog(t *testing.T) {
	w := newWorld(t)
	g := w.guest(Config{CapsuleID: "logger"})
	tests := []struct {
		level int32
		want  zapcore.Level
	}{
		{int32(abi.LogTrace), zapcore.DebugLevel},
		{int32(abi.LogDebug), zapcore.DebugLevel},
		{int32(abi.LogInfo), zapcore.InfoLevel},
		{int32(abi.LogWarn), zapcore.WarnLevel},
		{int32(abi.LogError), zapcore.ErrorLevel},
	}
	for _, tt := range tests {
		p, n := g.put("hello")
		if c := g.call("call_log", uint64(tt.level), p, n); c != abi.OK {
			t.Fatalf("log level %d = %v", tt.level, c)
		}
		last := w.logs.All()[w.logs.Len()-1]
		if last.Message != "hello" || last.Level != tt.want || last.ContextMap()["capsule_id"] != "logger" {
			t.Fatalf("log level %d wrote %v %q %v", tt.level, last.Level, last.Message, last.ContextMap())
		}
	}
}

func TestSysClocksRandomConfigCaller(t *testing.T) {
	w := newWorld(t)
	epoch := time.Now().Add(-time.Hour)
	g := w.guest(Config{Epoch: epoch, Config: map[string]string{"k": "value"}, Grants: Grants{Subscribe: []string{"c"}}})

	ms := int64(g.callI64("call_clock_ms"))
	if d := time.Since(time.UnixMilli(ms)); d < 0 || d > time.Minute {
		t.Errorf("clock-ms %d is %v from now", ms, d)
	}
	if mono := time.Duration(g.callI64("call_clock_mono")); mono < time.Hour || mono > time.Hour+time.Minute {
		t.Errorf("clock-monotonic-ns %v, want about an hour since the epoch", mono)
	}

	buf := g.alloc(4096)
	if c := g.call("call_random", uint64(buf), 4096); c != abi.OK {
		t.Fatalf("random 4096 = %v", c)
	}
	if zeros := countZeros(g.bytes(buf, 4096)); zeros > 100 {
		t.Errorf("random bytes look unfilled: %d zeros of 4096", zeros)
	}

	kp, kl := g.put("k")
	out, n := g.alloc(64), g.alloc(4)
	if c := g.call("call_config", kp, kl, uint64(out), 2, uint64(n)); c != abi.BufferTooSmall || g.u32(n) != 5 {
		t.Fatalf("config into 2 bytes = %v need %d", c, g.u32(n))
	}
	if c := g.call("call_config", kp, kl, uint64(out), 64, uint64(n)); c != abi.OK || string(g.bytes(out, g.u32(n))) != "value" {
		t.Fatalf("config = %v %q", c, g.bytes(out, g.u32(n)))
	}
	mp, ml := g.put("missing")
	if c := g.call("call_config", mp, ml, uint64(out), 64, uint64(n)); c != abi.NotFound {
		t.Fatalf("missing config = %v", c)
	}

	caller := func() abi.Caller {
		rec, n := g.alloc(128), g.alloc(4)
		if c := g.call("call_caller", uint64(rec), 128, uint64(n)); c != abi.OK {
			t.Fatalf("get-caller = %v", c)
		}
		got, err := abi.DecodeCaller(g.bytes(rec, g.u32(n)))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if c := caller(); c.PrincipalKind != abi.PrincipalSystem || c.Principal != "" || c.SourceID != [16]byte{} || c.TimeUnixNano != 0 {
		t.Fatalf("caller before any message = %+v", c)
	}
	h := g.mustSubscribe("c")
	src := uuid.New()
	res, err := w.bus.Publish("c", []byte(`1`), src, bus.Claimed("bob"))
	if err != nil {
		t.Fatal(err)
	}
	g.poll(h, 1024)
	if c := caller(); c.PrincipalKind != abi.PrincipalClaimed || c.Principal != "bob" || c.SourceID != src || c.TimeUnixNano != res.Message.Time.UnixNano() {
		t.Fatalf("caller after a message = %+v", c)
	}
}

func TestSysSleep(t *testing.T) {
	w := newWorld(t)
	g := w.guest(Config{})
	start := time.Now()
	if c := g.call("call_sleep", uint64(5*time.Millisecond)); c != abi.OK || time.Since(start) < 5*time.Millisecond {
		t.Fatalf("sleep 5ms = %v after %v", c, time.Since(start))
	}
	if c := g.call("call_sleep", uint64(abi.MaxSleepNanos+1)); c != abi.TooLarge {
		t.Fatalf("sleep over 60 s = %v", c)
	}
	neg := int64(-1)
	if c := g.call("call_sleep", uint64(neg)); c != abi.InvalidInput {
		t.Fatalf("negative sleep = %v", c)
	}
	if c := g.call("call_ready"); c != abi.OK {
		t.Fatalf("signal-ready = %v", c)
	}
	// A stop cancels a long sleep at once.
	g.whenYielding(g.stop)
	start = time.Now()
	res, err := g.mod.ExportedFunction("call_sleep").Call(g.ctx, uint64(30*time.Second))
	if err == nil && abi.Code(res[0]) != abi.Cancelled {
		t.Fatalf("sleep after stop = %v", abi.Code(res[0]))
	}
	if d := time.Since(start); d > 15*time.Second { // half the sleep: generous for a loaded machine
		t.Fatalf("cancelled sleep took %v", d)
	}
}

func TestSignalReadyCallsOnReadyOnce(t *testing.T) {
	calls := 0
	g := newWorld(t).guest(Config{OnReady: func() { calls++ }})
	for range 3 {
		if c := g.call("call_ready"); c != abi.OK {
			t.Fatal(c)
		}
	}
	if calls != 1 {
		t.Fatalf("OnReady called %d times", calls)
	}
}

func countZeros(b []byte) int {
	n := 0
	for _, x := range b {
		if x == 0 {
			n++
		}
	}
	return n
}
