package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// freePort returns a 127.0.0.1 address that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v\n%s", url, resp.Status, err, body)
	}
	return string(body)
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	dir := demoCapsules(t)
	addr := freePort(t)
	p := start(t, "run", "--metrics", addr, "--publish", "demo.start={}", dir)
	p.waitStderr("loaded 3 capsule(s)", 30*time.Second)

	// ping publishes 3 requests and demo.done once demo.start is published.
	var metrics string
	deadline := time.Now().Add(30 * time.Second)
	for {
		metrics = get(t, "http://"+addr+"/metrics")
		if strings.Contains(metrics, `astrid_capsule_messages_published_total{capsule="ping"} 4`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ping's 4 publishes not counted within 30s:\n%s", metrics)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{
		`astrid_capsule_messages_published_total{capsule="pong"} 3`,
		`astrid_capsule_messages_delivered_total{capsule="pong"} 3`,
		`astrid_capsule_messages_matched_total{capsule="pong"} 3`,
		`astrid_capsule_messages_queued{capsule="pong"} 0`,
		`astrid_capsule_messages_dropped_total{capsule="ping"} 0`,
		`astrid_capsule_restarts_total{capsule="crashy"} 0`,
		`astrid_capsule_state{capsule="ping",state="ready"} 1`,
		`astrid_capsule_state{capsule="ping",state="failed"} 0`,
		`astrid_capsules_live 3`,
		`astrid_host_call_duration_seconds_count{capsule="ping",fn="publish"} 4`,
		`astrid_host_call_duration_seconds_bucket{capsule="pong",fn="subscription-recv",le="+Inf"}`,
		`astrid_interceptor_chains_total 0`,
		`astrid_interceptor_dropped_total 0`,
		"go_goroutines",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", metrics)
	}

	var caps []capsuleJSON
	if err := json.Unmarshal([]byte(get(t, "http://"+addr+"/capsules")), &caps); err != nil {
		t.Fatal(err)
	}
	if len(caps) != 3 || caps[0].ID != "crashy" || caps[1].ID != "ping" || caps[2].ID != "pong" ||
		caps[1].State != "ready" || caps[1].Published != 4 || caps[1].Instances != 1 || len(caps[1].InstanceID) != 36 {
		t.Errorf("/capsules: %+v", caps)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(25 * time.Second); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, p.stderrText())
	}
}
