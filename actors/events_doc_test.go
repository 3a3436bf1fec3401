package actors

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/supervision"
)

// documentedEvents reads the topic table of docs/events.md: topic -> payload fields.
func documentedEvents(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| `(astrid\\.v1\\.[a-z_.]+)` \\|[^|]*\\| (.*) \\|$")
	name := regexp.MustCompile("`([a-z_]+)`")
	out := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var fields []string
		for _, f := range name.FindAllStringSubmatch(m[2], -1) {
			fields = append(fields, f[1])
		}
		slices.Sort(fields)
		out[m[1]] = fields
	}
	return out
}

// waitEvent receives lifecycle events on sub into got until one has the given topic.
func waitEvent(t *testing.T, sub *bus.Subscription, topic string, got *[]*bus.Message) {
	t.Helper()
	for {
		for _, m := range receive(t, sub, 1, 20*time.Second) {
			*got = append(*got, m)
			if m.Topic == topic {
				return
			}
		}
	}
}

// TestEventPayloadsMatchTheDocs drives capsules through every lifecycle event (load, crash,
// restart, failure, normal exit, watchdog stop) and checks that each payload has exactly the fields that
// docs/events.md lists for its topic, zero values included.
func TestEventPayloadsMatchTheDocs(t *testing.T) {
	docs := documentedEvents(t)
	for _, topic := range []string{TopicCrashed, TopicExited, TopicRestarted, TopicFailed, TopicHealthFailed, TopicCapsulesLoaded} {
		if _, ok := docs[topic]; !ok {
			t.Errorf("docs/events.md does not document %s", topic)
		}
	}
	r := newRuntime(t)
	sub := hostSubscribe(t, r, "astrid.v1.*")
	var got []*bus.Message
	if _, err := r.Load(t.Context(), "../testdata/capsules/echo"); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, sub, TopicCapsulesLoaded, &got)

	crashy := startCapsule(t, r, CapsuleSpec{ID: "crashy", Module: compile(t, r, "testdata/wat/crashy.wasm"),
		Policy: policy(1), Grants: grants(nil, []string{"crash.now"})})
	waitReady(t, crashy)
	publishAsHost(t, r, "crash.now", `{}`, bus.System())
	waitEvent(t, sub, TopicRestarted, &got)
	waitReady(t, crashy)
	publishAsHost(t, r, "crash.now", `{}`, bus.System())
	waitEvent(t, sub, TopicFailed, &got)

	transient := policy(0)
	transient.Restart = supervision.Transient
	startCapsule(t, r, CapsuleSpec{ID: "exit", Module: compile(t, r, "testdata/wat/exit.wasm"), Policy: transient})
	waitEvent(t, sub, TopicExited, &got)

	wd := &supervision.Watchdog{Window: 20 * time.Millisecond, Windows: 3}
	startCapsule(t, r, CapsuleSpec{ID: "spin", Module: compile(t, r, "testdata/wat/spin.wasm"), Policy: policy(0), Watchdog: wd})
	waitEvent(t, sub, TopicHealthFailed, &got)

	seen := map[string]bool{}
	for _, m := range got {
		want, ok := docs[m.Topic]
		if !ok {
			t.Errorf("event %s is not in docs/events.md: %s", m.Topic, m.Payload)
			continue
		}
		seen[m.Topic] = true
		var payload map[string]any
		if err := json.Unmarshal(m.Payload, &payload); err != nil {
			t.Fatalf("%s: %v", m.Topic, err)
		}
		if keys := slices.Sorted(maps.Keys(payload)); !slices.Equal(keys, want) {
			t.Errorf("%s payload has fields %v, docs/events.md lists %v: %s", m.Topic, keys, want, m.Payload)
		}
	}
	for topic := range docs {
		if !seen[topic] {
			t.Errorf("no %s event in the scenario", topic)
		}
	}
}

// health.failed carries the capsule's restart count, the same as the crashed event that
// follows it: a spinning capsule allowed two restarts is stopped by the watchdog three times,
// with restart_count 0, 1 and 2.
func TestHealthFailedRestartCount(t *testing.T) {
	r := newRuntime(t)
	evs := events(t, r)
	p := policy(2)
	p.BackoffInitial, p.BackoffMax = time.Millisecond, time.Millisecond
	wd := &supervision.Watchdog{Window: 20 * time.Millisecond, Windows: 2}
	c := startCapsule(t, r, CapsuleSpec{ID: "spin", Module: compile(t, r, "testdata/wat/spin.wasm"), Policy: p, Watchdog: wd})
	checkFor(t, 20*time.Second, "the capsule to fail", func() bool { return count(evs(), TopicFailed, "spin") == 1 })
	if st := c.Status(); st.Restarts != 2 {
		t.Fatalf("status %+v, want 2 restarts", st)
	}
	var health, crashed []int
	for _, e := range evs() {
		switch e.topic {
		case TopicHealthFailed:
			health = append(health, e.RestartCount)
		case TopicCrashed:
			if len(crashed) != len(health)-1 {
				t.Fatalf("crashed event without a health.failed before it: %v %v", health, crashed)
			}
			crashed = append(crashed, e.RestartCount)
		}
	}
	if fmt.Sprint(health) != "[0 1 2]" || fmt.Sprint(crashed) != "[0 1 2]" {
		t.Fatalf("restart_count: health.failed %v, crashed %v; want [0 1 2] for both", health, crashed)
	}
}
