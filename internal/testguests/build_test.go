package testguests

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

func TestBuildProbeOnce(t *testing.T) {
	wasm := Build(t, "testdata/guests/probe")
	if !bytes.HasPrefix(wasm, []byte("\x00asm\x01\x00\x00\x00")) {
		t.Fatalf("not a wasm module: % x", wasm[:min(8, len(wasm))])
	}
	// The exports the runtime looks for are named in the export section.
	for _, name := range []string{"run", "memory", "_initialize"} {
		if !bytes.Contains(wasm, []byte(name)) {
			t.Errorf("module does not mention export %q", name)
		}
	}
	again := Build(t, "./testdata/guests/probe")
	if &again[0] != &wasm[0] {
		t.Fatal("the second Build of the same package built again")
	}
}

// fakeTB records the Fatalf of a Build and ends its goroutine, as testing.T would.
type fakeTB struct {
	testing.TB
	msg string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// buildFails runs Build(pkg) and returns its Fatalf message; the test fails if Build returned.
func buildFails(t *testing.T, pkg string) string {
	t.Helper()
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	returned := false
	go func() {
		defer close(done)
		Build(f, pkg)
		returned = true
	}()
	<-done
	if returned || f.msg == "" {
		t.Fatalf("Build(%q) did not fail", pkg)
	}
	return f.msg
}

func TestBuildRejectsPathsOutsideTheModule(t *testing.T) {
	for _, pkg := range []string{"", ".", "./", "/tmp/x", "..", "../x", "examples/../../x", `examples\ping`} {
		if msg := buildFails(t, pkg); !strings.Contains(msg, "inside the module") {
			t.Errorf("Build(%q): %s", pkg, msg)
		}
	}
}

func TestBuildFailureShowsGoOutput(t *testing.T) {
	tests := []struct{ pkg, want string }{
		{"testdata/guests/no-such-guest", "no-such-guest"},
		// A library package cannot be a c-shared module.
		{"abi", "main package"},
	}
	for _, tt := range tests {
		msg := buildFails(t, tt.pkg)
		if !strings.Contains(msg, "GOOS=wasip1 GOARCH=wasm") || !strings.Contains(msg, tt.want) {
			t.Errorf("Build(%q) failed with %q, want the command and %q", tt.pkg, msg, tt.want)
		}
		// The failure is remembered: the same message without building again.
		if again := buildFails(t, tt.pkg); again != msg {
			t.Errorf("second Build(%q) failed with %q, want %q", tt.pkg, again, msg)
		}
	}
}
