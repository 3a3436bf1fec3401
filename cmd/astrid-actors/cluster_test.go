package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/astrid-actors/astrid-actors/cluster"
	"github.com/astrid-actors/astrid-actors/internal/syncbuf"
)

// TestRunClusterUsageErrors: inconsistent cluster flags are usage errors (exit 2) that name
// the flag, before anything starts.
func TestRunClusterUsageErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--node", "n1"}, "--node needs --cluster"},
		{[]string{"--seeds", "127.0.0.1:6222"}, "--seeds needs --cluster"},
		{[]string{"--cluster", "c"}, "--cluster needs --node"},
		{[]string{"--cluster", "c", "--node", "n1", "--cluster-listen", "nope"}, "--cluster-listen"},
		{[]string{"--cluster", "c", "--node", "n1", "--seeds", "127.0.0.1:1,bad"}, "--seeds"},
		{[]string{"--cluster", "c", "--node", "n1", "--cluster-tls-cert", "x.pem"}, "go together"},
	} {
		args := append(append([]string{"run"}, tc.args...), dir)
		res := cli(t, args...)
		if res.code != 2 || !strings.Contains(res.stderr, tc.want) {
			t.Errorf("%v: code %d, stderr %q; want 2 and %q", tc.args, res.code, res.stderr, tc.want)
		}
	}
}

// bgRun is an `astrid-actors run` in the background.
type bgRun struct {
	cmd            *exec.Cmd
	stdout, stderr *syncbuf.Buffer
}

// startRun starts the command and waits until its stderr contains ready.
func startRun(t *testing.T, ready string, args ...string) *bgRun {
	t.Helper()
	b := &bgRun{cmd: exec.Command(binary, withCache(args)...), stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}}
	b.cmd.Stdout, b.cmd.Stderr = b.stdout, b.stderr
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = b.cmd.Process.Kill()
		_ = b.cmd.Wait()
	})
	deadline := time.Now().Add(60 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(b.stderr.String(), ready) {
		if time.Now().After(deadline) {
			t.Fatalf("%v: no %q on stderr within 60 s:\n%s", args, ready, b.stderr.String())
		}
		<-tick.C
	}
	return b
}

// stop sends SIGTERM and waits for exit 0.
func (b *bgRun) stop(t *testing.T) {
	t.Helper()
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, b.stderr.String())
	}
	checkNoRace(t, b.stderr.String())
}

// TestRunClusterThreeNodes: pong runs on n1, an unrelated capsule on n2, ping on n3, each in
// its own `run --cluster` process. ping and pong talk across nodes; every node tails demo.*
// and prints the same JSON lines (seq, source id, principal, time) for every message.
func TestRunClusterThreeNodes(t *testing.T) {
	t.Parallel()
	demo := demoCapsules(t)
	other := t.TempDir()
	copyTree(t, filepath.Join("..", "..", "testdata", "capsules", "echo"), other)
	a1, a2, a3 := freePort(t), freePort(t), freePort(t)
	common := []string{"run", "--cluster", "c3", "--tail", "demo.*", "--exit-after", "60s"}
	n1 := startRun(t, "loaded 1 capsule", append(common, "--node", "n1", "--cluster-listen", a1, "--metrics", "127.0.0.1:0",
		filepath.Join(demo, "pong"))...)
	n2 := startRun(t, "loaded 1 capsule", append(common, "--node", "n2", "--cluster-listen", a2, "--seeds", a1, other)...)
	res := cli(t, "run", "--cluster", "c3", "--node", "n3", "--cluster-listen", a3, "--seeds", a1+","+a2,
		"--tail", "demo.*", "--publish", "demo.start={}", "--exit-on", "demo.done", filepath.Join(demo, "ping"))
	if res.code != 0 {
		t.Fatalf("n3: %v", res)
	}
	want := decodeLines(t, res.stdout)
	if len(want) != 8 {
		t.Fatalf("n3 printed %d lines, want 8 (start, 3 pings, 3 pongs, done):\n%s", len(want), res.stdout)
	}
	sources := map[string]bool{}
	for _, l := range want {
		sources[l.SourceID] = true
	}
	if len(sources) != 3 { // the system (demo.start), ping on n3, pong on n1
		t.Fatalf("want 3 sources, got %v", sources)
	}
	byKey := func(ls []tailLine) map[string]tailLine {
		m := map[string]tailLine{}
		for _, l := range ls {
			m[l.SourceID+"/"+strconv.FormatUint(l.Seq, 10)] = l
		}
		return m
	}
	wantBy := byKey(want)
	for name, n := range map[string]*bgRun{"n1": n1, "n2": n2} {
		deadline := time.Now().Add(10 * time.Second)
		tick := time.NewTicker(5 * time.Millisecond)
		for len(decodeLines(t, n.stdout.String())) < len(want) && time.Now().Before(deadline) {
			<-tick.C
		}
		tick.Stop()
		got := byKey(decodeLines(t, n.stdout.String()))
		if len(got) != len(wantBy) {
			t.Fatalf("%s printed %d messages, want %d:\n%s", name, len(got), len(wantBy), n.stdout.String())
		}
		for k, w := range wantBy {
			g := got[k]
			if g.Topic != w.Topic || string(g.Payload) != string(w.Payload) || g.Principal != w.Principal || g.Time != w.Time {
				t.Errorf("%s: %+v, n3 printed %+v", name, g, w)
			}
		}
	}
	if !strings.Contains(n1.stderr.String(), "member up") {
		t.Errorf("n1 logged no member_up:\n%s", n1.stderr.String())
	}
	// n1's /cluster and /capsules: members and where each capsule runs (n3 has left).
	_, rest, _ := strings.Cut(n1.stderr.String(), "metrics on http://")
	addr, _, _ := strings.Cut(rest, "/metrics")
	var cl clusterJSON
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		if err := json.Unmarshal([]byte(get(t, "http://"+addr+"/cluster")), &cl); err != nil {
			t.Fatal(err)
		}
		if len(cl.Members) == 2 {
			break
		}
		<-tick.C
	}
	if cl.Node != "n1" || len(cl.Members) != 2 || cl.Members[1].Node != "n2" ||
		!slices.Equal(cl.Placement, []cluster.Placement{{Capsule: "echo", Node: "n2"}, {Capsule: "pong", Node: "n1"}}) {
		t.Errorf("/cluster: %+v", cl)
	}
	if caps := get(t, "http://"+addr+"/capsules"); !strings.Contains(caps, `"node": "n1"`) {
		t.Errorf("/capsules has no node: %s", caps)
	}
	if m := get(t, "http://"+addr+"/metrics"); !strings.Contains(m, `astrid_cluster_member{node="n2"} 1`) ||
		!strings.Contains(m, `astrid_cluster_link_messages_total{peer="n3",what="acked"}`) {
		t.Errorf("/metrics lacks the cluster series")
	}
	n1.stop(t)
	n2.stop(t)
}
