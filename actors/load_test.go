package actors

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/manifest"
)

func TestLoadDirectory(t *testing.T) {
	r := newRuntime(t)
	loaded := hostSubscribe(t, r, TopicCapsulesLoaded)
	rep, err := r.Load(context.Background(), "../testdata/capsules")
	if err != nil {
		t.Fatal(err)
	}
	// Discovery order is lexical (broken, echo, interceptor, noready, relay); relay imports
	// echo's export, which is satisfied by the discovery order too.
	if got := fmt.Sprint(rep.Started); got != "[echo interceptor noready relay]" {
		t.Fatalf("started %s", got)
	}
	if fmt.Sprint(rep.NotReady) != "[noready]" {
		t.Fatalf("not ready %v", rep.NotReady)
	}
	if len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0].Error(), `"a..b"`) {
		t.Fatalf("errors %v, want the broken manifest's ACL key", rep.Errors)
	}
	ev := receive(t, loaded, 1, 20*time.Second)[0]
	if !strings.Contains(string(ev.Payload), `"status":"ready"`) || !strings.Contains(string(ev.Payload), `"not_ready":["noready"]`) {
		t.Fatalf("capsules_loaded payload %s", ev.Payload)
	}
	// The loaded capsules work: echo and relay both answer, the interceptor intercepts.
	out := hostSubscribe(t, r, "echo.out")
	seen := hostSubscribe(t, r, "seen.*")
	if _, err := r.Publish(context.Background(), "echo.in", []byte(`"hi"`), bus.Verified("u")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Publish(context.Background(), "audit.login", []byte(`{"who":"u"}`), bus.Verified("u")); err != nil {
		t.Fatal(err)
	}
	receive(t, out, 2, 20*time.Second)
	if m := receive(t, seen, 1, 20*time.Second)[0]; string(m.Payload) != `{"who":"u"}` {
		t.Fatalf("interceptor saw %s", m.Payload)
	}
	// Unload one; the others keep running.
	if err := r.Unload(context.Background(), "relay"); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, st := range r.Capsules() {
		ids = append(ids, st.ID)
	}
	if slices.Contains(ids, "relay") {
		t.Fatalf("relay still listed: %v", ids)
	}
	if err := r.Unload(context.Background(), "relay"); err == nil {
		t.Fatal("unloading an unknown capsule succeeded")
	}
}

func TestCloseStopsCapsulesInReverseOrder(t *testing.T) {
	r, err := New(context.Background(), Options{Engine: EngineOptions{CacheDir: testCacheDir}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Load(context.Background(), "../testdata/capsules/echo", "../testdata/capsules/relay"); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, c := range r.stopOrder() {
		order = append(order, c.ID())
	}
	if fmt.Sprint(order) != "[relay echo]" {
		t.Fatalf("stop order %v, want relay (loaded last) first", order)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"echo", "relay"} {
		if st := r.Capsule(id); st != nil && st.Status().State != StateStopped {
			t.Fatalf("%s after close: %+v", id, st.Status())
		}
	}
	if _, err := r.Publish(context.Background(), "echo.in", []byte(`1`), bus.System()); err == nil {
		t.Fatal("publish after close succeeded")
	}
}

func TestSpecFromManifestMapsEveryTable(t *testing.T) {
	r := newRuntime(t)
	m, err := manifest.Parse([]byte(`
[package]
name = "full"
version = "1.0.0"
[[component]]
id = "main"
file = "x.wasm"
[publish]
"out.*" = "opaque"
[subscribe]
"in.x" = "opaque"
"ev.*" = { handler = "on_ev", priority = 7 }
[capabilities]
uplink = true
[env]
mode = { type = "text", default = "fast" }
[limits]
memory_pages = 32
ipc_throughput_bytes_per_sec = 1000
ipc_throughput_messages_per_sec = 77
max_subscriptions = 4
[supervision]
restart = "transient"
max_restarts = 2
within = "10s"
backoff_initial = "5ms"
backoff_max = "50ms"
on_failure = "escalate"
group = "g"
watchdog_window = "1s"
watchdog_windows = 4
`), "/capsules/full/Capsule.toml")
	if err != nil {
		t.Fatal(err)
	}
	spec, err := SpecFromManifest(m, compile(t, r, "testdata/wat/intercept.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%s %v %v %v %d %d/%d %d %v %+v %+v %+v", spec.ID, spec.Grants.Publish, spec.Grants.Subscribe, spec.Grants.Uplink,
		spec.Limits.MemoryPages, spec.Limits.IPC.ThroughputBytesPerSec, spec.Limits.IPC.ThroughputMessagesPerSec, spec.Limits.IPC.MaxSubscriptions, spec.Config,
		spec.Bindings, *spec.Watchdog, *spec.Policy)
	want := "full [out.*] [ev.* in.x] true 32 1000/77 4 map[mode:fast] [{HandleID:0 Priority:7 Action:on_ev Topic:ev.*}] " +
		"{Window:1s Windows:4} {Restart:transient MaxRestarts:2 Within:10s BackoffInitial:5ms BackoffMax:50ms Jitter:0.2 OnFailure:escalate Group:g}"
	if got != want {
		t.Fatalf("spec\n got %s\nwant %s", got, want)
	}
}

// TestLoadMissingPaths: a missing directory is an error of Load before anything starts, and a
// missing component file is a load error naming the file, as in validate.
func TestLoadMissingPaths(t *testing.T) {
	r := newRuntime(t)
	missing := filepath.Join(t.TempDir(), "nope")
	rep, err := r.Load(context.Background(), "../testdata/capsules/echo", missing)
	if err == nil || !strings.Contains(err.Error(), missing+": no such directory") || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load(missing dir) = %v, want an error naming %s", err, missing)
	}
	if rep != nil || len(r.Capsules()) != 0 {
		t.Fatalf("Load(missing dir) started %v", r.Capsules())
	}

	dir := filepath.Join(t.TempDir(), "nowasm")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, manifest.FileName), []byte("[package]\nname = \"nowasm\"\nversion = \"1.0.0\"\n[[component]]\nid = \"main\"\nfile = \"gone.wasm\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err = r.Load(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	wasm := filepath.Join(dir, "gone.wasm")
	if len(rep.Started) != 0 || len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0].Error(), `"gone.wasm" does not exist (no file `+wasm+")") {
		t.Fatalf("Load(missing component) = %+v, want one error naming %s", rep, wasm)
	}
}

// writeCapsuleDir writes a capsule directory under root: its manifest and the wasm it names.
func writeCapsuleDir(t *testing.T, root, dir, toml, wasmFile string) {
	t.Helper()
	d := filepath.Join(root, dir)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, manifest.FileName), []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, filepath.Base(wasmFile)), readWasm(t, wasmFile), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A capsule that never becomes ready (ready_timeout 1m) delays only the capsules that import
// from it: the independent echo after it in the load order is started, ready and answering
// while Load still waits, and the importer starts only once the blocker is given up on (here:
// stopped, instead of waiting out the minute).
func TestLoadNotReadyDelaysOnlyImporters(t *testing.T) {
	r := newRuntime(t)
	root := t.TempDir()
	writeCapsuleDir(t, root, "a-blocker", `[package]
name = "blocker"
version = "1.0.0"
[[component]]
id = "main"
file = "noready.wasm"
[subscribe]
"quiet" = "opaque"
[exports]
"demo:block" = "1.0.0"
[supervision]
ready_timeout = "1m"
`, "testdata/wat/noready.wasm")
	writeCapsuleDir(t, root, "b-importer", `[package]
name = "importer"
version = "1.0.0"
[[component]]
id = "main"
file = "echo.wasm"
[publish]
"echo.out" = "opaque"
[subscribe]
"echo.in" = "opaque"
[imports]
"demo:block" = "^1.0"
`, "testdata/wat/echo.wasm")
	writeCapsuleDir(t, root, "c-echo", `[package]
name = "echo"
version = "1.0.0"
[[component]]
id = "main"
file = "echo.wasm"
[publish]
"echo.out" = "opaque"
[subscribe]
"echo.in" = "opaque"
`, "testdata/wat/echo.wasm")

	loaded := hostSubscribe(t, r, TopicCapsulesLoaded)
	type result struct {
		rep *LoadReport
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := r.Load(context.Background(), root)
		done <- result{rep, err}
	}()
	checkFor(t, 20*time.Second, "echo to be loaded", func() bool { return r.Capsule("echo") != nil })
	waitReady(t, r.Capsule("echo"))
	out := hostSubscribe(t, r, "echo.out")
	if _, err := r.Publish(context.Background(), "echo.in", []byte(`"hi"`), bus.Verified("u")); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, out, 1, 5*time.Second)[0]; string(m.Payload) != `"hi"` {
		t.Fatalf("echo answered %s", m.Payload)
	}
	select {
	case res := <-done:
		t.Fatalf("Load returned while the blocker was neither ready nor timed out: %+v, %v", res.rep, res.err)
	default:
	}
	if st := r.Capsule("blocker").Status(); st.State == StateReady {
		t.Fatalf("blocker is %s", st.State)
	}
	if r.Capsule("importer") != nil {
		t.Fatal("the importer started before the capsule it imports from was ready or given up on")
	}

	if err := r.Capsule("blocker").Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	var res result
	select {
	case res = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Load did not return after the blocker stopped")
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	if got := fmt.Sprint(res.rep.Started, res.rep.NotReady); got != "[blocker echo importer] [blocker]" {
		t.Fatalf("started, not ready: %s", got)
	}
	if ev := receive(t, loaded, 1, 5*time.Second)[0]; !strings.Contains(string(ev.Payload), `"capsules":["blocker","echo","importer"],"not_ready":["blocker"]`) {
		t.Fatalf("capsules_loaded payload %s", ev.Payload)
	}
	waitReady(t, r.Capsule("importer"))
}
