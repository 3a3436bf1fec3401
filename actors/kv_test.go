package actors

// Integration tests of astrid:kv@1.0.0 through the real runtime: the kvprobe test capsule
// (testdata/guests/kvprobe) drives guest.KV, the store lives in a temp DataDir.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/internal/kvstore"
	"github.com/astrid-actors/astrid-actors/internal/testguests"
	"github.com/astrid-actors/astrid-actors/kv"
)

var kvprobeGrants = grants([]string{"kvprobe.result"}, []string{"kvprobe.cmd"})

type kvResult struct {
	Op       string   `json:"op"`
	Failures []string `json:"failures"`
	Done     int      `json:"done"`
	Retries  int      `json:"retries"`
	Value    string   `json:"value"`
	Error    string   `json:"error"`
	Keys     []string `json:"keys"`
}

// newKVRuntime is a runtime with the given options, the test cache, and cleanup.
func newKVRuntime(t *testing.T, opts Options) *Runtime {
	t.Helper()
	return newRuntimeWith(t, opts)
}

// kvprobe starts the probe as capsule id on r and returns a function running one command.
func kvprobe(t *testing.T, r *Runtime, id string) func(cmd string, p bus.Principal) kvResult {
	t.Helper()
	c := startCapsule(t, r, CapsuleSpec{ID: id, Module: compileGoGuest(t, r, "testdata/guests/kvprobe"), Grants: kvprobeGrants, Policy: policy(0)})
	waitReady(t, c)
	results := hostSubscribe(t, r, "kvprobe.result")
	var mu sync.Mutex // one command at a time per probe
	return func(cmd string, p bus.Principal) kvResult {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		publishAsHost(t, r, "kvprobe.cmd", cmd, p)
		m := receive(t, results, 1, 30*time.Second)[0]
		var res kvResult
		if err := json.Unmarshal(m.Payload, &res); err != nil {
			t.Fatal(err)
		}
		return res
	}
}

var systemPrincipal = bus.Principal{Kind: abi.PrincipalSystem}

func TestKVProbe(t *testing.T) {
	dir := t.TempDir()
	r := newKVRuntime(t, Options{DataDir: dir})
	run := kvprobe(t, r, "kvprobe")
	if res := run(`{"op":"selftest"}`, systemPrincipal); len(res.Failures) != 0 || res.Error != "" {
		t.Fatalf("selftest: %q %s", res.Failures, res.Error)
	}
	// Each principal has its own namespace; system messages use the owner's.
	if res := run(`{"op":"set","key":"who","value":"owner"}`, systemPrincipal); res.Error != "" {
		t.Fatal(res.Error)
	}
	if res := run(`{"op":"get","key":"who"}`, bus.Verified("alice")); res.Error != "not-found" {
		t.Fatalf("alice reads the owner's key: %+v", res)
	}
	if res := run(`{"op":"set","key":"who","value":"alice"}`, bus.Verified("alice")); res.Error != "" {
		t.Fatal(res.Error)
	}
	if res := run(`{"op":"get","key":"who"}`, systemPrincipal); res.Value != "owner" {
		t.Fatalf("owner's key = %+v", res)
	}
	st, err := r.KV()
	if err != nil {
		t.Fatal(err)
	}
	v, err := st.Get(context.Background(), kv.Namespace{Name: "alice:capsule:kvprobe"}, "who")
	if err != nil || string(v) != "alice" {
		t.Fatalf("alice:capsule:kvprobe/who = %q, %v", v, err)
	}
	if _, err := os.Stat(filepath.Join(dir, kvstore.FileName)); err != nil {
		t.Fatalf("the store is not in DataDir: %v", err)
	}
}

// TestKVSurvivesRuntimeRestart: state written by one runtime is there for the next one on the
// same DataDir, which also proves Close released the store.
func TestKVSurvivesRuntimeRestart(t *testing.T) {
	dir := t.TempDir()
	for i, want := range []string{"not-found", ""} {
		r := newKVRuntime(t, Options{DataDir: dir})
		run := kvprobe(t, r, "keeper")
		res := run(`{"op":"get","key":"k"}`, systemPrincipal)
		if res.Error != want || (want == "" && res.Value != "kept") {
			t.Fatalf("runtime %d: get = %+v", i, res)
		}
		if res := run(`{"op":"set","key":"k","value":"kept"}`, systemPrincipal); res.Error != "" {
			t.Fatal(res.Error)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := r.Close(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestKVCASRaceTwoInstances runs the same capsule on two runtimes sharing one store (as two
// nodes sharing a replicated one would): concurrent compare-and-set increments lose nothing.
func TestKVCASRaceTwoInstances(t *testing.T) {
	st, err := kvstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs := []func(string, bus.Principal) kvResult{
		kvprobe(t, newKVRuntime(t, Options{KV: st}), "counter"),
		kvprobe(t, newKVRuntime(t, Options{KV: st}), "counter"),
	}
	const each = 50
	results := make([]kvResult, len(runs))
	var wg sync.WaitGroup
	for i, run := range runs {
		wg.Go(func() { results[i] = run(`{"op":"incr","key":"n","n":50}`, systemPrincipal) })
	}
	wg.Wait()
	for i, res := range results {
		if res.Error != "" || res.Done != each {
			t.Fatalf("instance %d: %+v", i, res)
		}
	}
	v, err := st.Get(context.Background(), kv.Namespace{Name: "default:capsule:counter"}, "n")
	if err != nil || string(v) != "100" {
		t.Fatalf("counter = %q, %v; want 100", v, err)
	}
	t.Logf("cas-mismatch retries: %d and %d", results[0].Retries, results[1].Retries)
}

func TestKVBadDataDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r := newKVRuntime(t, Options{DataDir: file})
	mod := compileGoGuest(t, r, "testdata/guests/kvprobe")
	_, err := r.Start(context.Background(), CapsuleSpec{ID: "kvprobe", Module: mod, Grants: kvprobeGrants})
	if err == nil {
		t.Fatal("a capsule importing kv started without a usable store")
	}
	t.Logf("start: %v", err)
	// A capsule that keeps no state does not need the store.
	c := startCapsule(t, r, CapsuleSpec{ID: "echo", Module: compile(t, r, "testdata/wat/echo.wasm"), Grants: grants([]string{"echo.out"}, []string{"echo.in"})})
	if err := c.Stop(context.Background()); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

var counterGrants = grants([]string{"counter.value"}, []string{"counter.tick"})

// counter starts examples/counter (wasm) on r and returns a function that ticks it and
// returns the value it published.
func counter(t testing.TB, r *Runtime, wasm []byte) func(tick string) int {
	t.Helper()
	mod, err := r.Compile(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	c := startCapsule(t, r, CapsuleSpec{ID: "counter", Module: mod, Grants: counterGrants, Policy: policy(5),
		Limits: Limits{KVBytes: 4096}})
	waitReady(t, c)
	values := hostSubscribe(t, r, "counter.value")
	return func(tick string) int {
		t.Helper()
		publishAsHost(t, r, "counter.tick", tick, systemPrincipal)
		var v struct{ N int }
		if err := json.Unmarshal(receive(t, values, 1, 30*time.Second)[0].Payload, &v); err != nil {
			t.Fatal(err)
		}
		return v.N
	}
}

// TestCounterExample: the counter keeps counting when its capsule crashes and the supervisor
// restarts it, and when the whole runtime is closed and started again on the same DataDir.
func TestCounterExample(t *testing.T) {
	dir := t.TempDir()
	wasm := testguests.Build(t, "examples/counter")
	r := newKVRuntime(t, Options{DataDir: dir})
	tick := counter(t, r, wasm)
	for want := 1; want <= 3; want++ {
		if n := tick(`{}`); n != want {
			t.Fatalf("tick %d: counter says %d", want, n)
		}
	}
	c := r.Capsule("counter")
	restarts := c.Status().Restarts
	publishAsHost(t, r, "counter.tick", `{"crash":true}`, systemPrincipal)
	checkFor(t, 20*time.Second, "the counter's restart", func() bool {
		st := c.Status()
		return st.Restarts > restarts && st.State == StateReady
	})
	if n := tick(`{}`); n != 4 {
		t.Fatalf("after a crash and restart the counter says %d, want 4", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	tick = counter(t, newKVRuntime(t, Options{DataDir: dir}), wasm)
	if n := tick(`{}`); n != 5 {
		t.Fatalf("after a runtime restart the counter says %d, want 5", n)
	}
}

// Environment of the child process of TestCounterSurvivesSIGKILL.
const (
	counterChildDir  = "ASTRID_KV_COUNTER_DIR"
	counterChildWasm = "ASTRID_KV_COUNTER_WASM"
)

// TestCounterSurvivesSIGKILL runs the counter in a child process (this test binary, running
// TestCounterChild), which ticks it in a loop and acknowledges every value the capsule
// published on a pipe; the child is killed with SIGKILL mid-run. A new runtime on the same
// DataDir continues from the last acknowledged value (or one past it: a tick committed before
// the kill but not yet acknowledged).
func TestCounterSurvivesSIGKILL(t *testing.T) {
	dir := t.TempDir()
	wasm := filepath.Join(t.TempDir(), "counter.wasm")
	if err := os.WriteFile(wasm, testguests.Build(t, "examples/counter"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCounterChild$")
	cmd.Env = append(os.Environ(), counterChildDir+"="+dir, counterChildWasm+"="+wasm)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	last := 0
	sc := bufio.NewScanner(out)
	for last < 25 && sc.Scan() {
		n, err := strconv.Atoi(sc.Text())
		if err != nil {
			continue // not an acknowledgement (a log line of the child)
		}
		if n != last+1 {
			t.Fatalf("child acknowledged %d after %d", n, last)
		}
		last = n
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
		if n, err := strconv.Atoi(sc.Text()); err == nil && n == last+1 {
			last = n
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want killed by SIGKILL", err)
	}
	if last < 25 {
		t.Fatalf("the child acknowledged only %d ticks", last)
	}
	wasmBytes, err := os.ReadFile(wasm)
	if err != nil {
		t.Fatal(err)
	}
	n := counter(t, newKVRuntime(t, Options{DataDir: dir}), wasmBytes)(`{}`)
	if n != last+1 && n != last+2 {
		t.Fatalf("after SIGKILL at %d acknowledged ticks the counter says %d, want %d or %d", last, n, last+1, last+2)
	}
	t.Logf("killed after %d acknowledged ticks; the restarted counter says %d", last, n)
}

// TestCounterChild is the child of TestCounterSurvivesSIGKILL; it does nothing in a normal run.
func TestCounterChild(t *testing.T) {
	dir := os.Getenv(counterChildDir)
	if dir == "" {
		t.Skip("the child of TestCounterSurvivesSIGKILL")
	}
	wasm, err := os.ReadFile(os.Getenv(counterChildWasm))
	if err != nil {
		t.Fatal(err)
	}
	tick := counter(t, newKVRuntime(t, Options{DataDir: dir}), wasm)
	for { // until killed
		fmt.Println(tick(`{}`))
	}
}
