package actors

// Integration tests of astrid:kv@1.0.0 through the real runtime: the kvprobe test capsule
// (testdata/guests/kvprobe) drives guest.KV, the store lives in a temp DataDir.

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/internal/kvstore"
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
	opts.Engine = EngineOptions{CacheDir: testCacheDir}
	r, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Errorf("close runtime: %v", err)
		}
	})
	return r
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
