package actors

// Integration tests of the example capsules in examples/: each is built from source with the
// Go toolchain (internal/testguests) and run under the real runtime with the grants of its
// Capsule.toml, written out here.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/hostfuncs"
)

// exampleGrants are the [publish] and [subscribe] tables of examples/*/Capsule.toml.
var exampleGrants = map[string]hostfuncs.Grants{
	"ping":       {Publish: []string{"demo.ping", "demo.done"}, Subscribe: []string{"demo.start", "demo.pong"}},
	"pong":       {Publish: []string{"demo.pong"}, Subscribe: []string{"demo.ping"}},
	"aggregator": {Publish: []string{"agg.work", "agg.result"}, Subscribe: []string{"agg.request", "agg.reply.*"}},
	"worker":     {Publish: []string{"agg.reply.*"}, Subscribe: []string{"agg.work"}},
	"echo":       {Publish: []string{"echo.out"}, Subscribe: []string{"echo.in"}},
}

// exampleUser is the principal the example tests publish as; replies propagate it.
var exampleUser = bus.Verified("user")

// TestExamples builds every example once (in parallel: building and compiling a Go guest
// takes about a second each with -race when the caches are warm) and runs the scenarios of
// their READMEs on one runtime.
func TestExamples(t *testing.T) {
	r := newRuntime(t)
	mods := map[string]*Module{}
	var mu sync.Mutex
	t.Run("build", func(t *testing.T) {
		for name := range exampleGrants {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				m := compileGoGuest(t, r, "examples/"+name)
				mu.Lock()
				mods[name] = m
				mu.Unlock()
			})
		}
	})
	if t.Failed() {
		return
	}
	// start starts example name as capsule id with the grants of its manifest.
	start := func(t *testing.T, name, id string, config map[string]string) *Capsule {
		t.Helper()
		c := startCapsule(t, r, CapsuleSpec{ID: id, Module: mods[name], Grants: exampleGrants[name], Config: config, Policy: policy(0)})
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := c.Stop(ctx); err != nil {
				t.Error(err)
			}
		})
		waitReady(t, c)
		return c
	}

	t.Run("PingPong", func(t *testing.T) {
		start(t, "pong", "pong", nil)
		ping := start(t, "ping", "ping", nil)
		done := hostSubscribe(t, r, "demo.done")
		for _, tt := range []struct{ start, done string }{
			{`{"count":5}`, `{"pings":5,"pongs":5}`},
			{`{}`, `{"pings":3,"pongs":3}`}, // the default count
			{`{"count":-2}`, `{"pings":0,"pongs":0}`},
		} {
			publishAsHost(t, r, "demo.start", tt.start, exampleUser)
			m := receive(t, done, 1, 20*time.Second)[0]
			if string(m.Payload) != tt.done {
				t.Errorf("demo.start %s: demo.done %s, want %s", tt.start, m.Payload, tt.done)
			}
			// demo.start's principal went through ping, pong and back.
			if m.Source != ping.Status().InstanceID || m.Principal != exampleUser {
				t.Errorf("demo.done from %v as %v, want from ping as %v", m.Source, m.Principal, exampleUser)
			}
		}
	})

	t.Run("AggregatorWorkers", func(t *testing.T) {
		values := map[string]string{"w1": "1", "w2": "2", "w3": "3.5"}
		workers := map[uuid.UUID]string{}
		for _, name := range []string{"w1", "w2", "w3"} {
			c := start(t, "worker", "worker-"+name, map[string]string{"worker-name": name, "worker-value": values[name]})
			workers[c.Status().InstanceID] = name
		}
		agg := start(t, "aggregator", "aggregator", nil)
		results := hostSubscribe(t, r, "agg.result")
		replies := hostSubscribe(t, r, "agg.reply.*")

		publishAsHost(t, r, "agg.request", `{"id":"r1","expect":3}`, exampleUser)
		m := receive(t, results, 1, 20*time.Second)[0]
		if want := `{"id":"r1","replies":3,"sum":6.5}`; string(m.Payload) != want {
			t.Errorf("agg.result %s, want %s", m.Payload, want)
		}
		if m.Source != agg.Status().InstanceID {
			t.Errorf("agg.result from %v, want the aggregator", m.Source)
		}
		// Each worker answered on its own topic with its configured value.
		var got []string
		for _, m := range receive(t, replies, 3, 10*time.Second) {
			got = append(got, fmt.Sprintf("%s %s %s", m.Topic, workers[m.Source], m.Payload))
		}
		slices.Sort(got)
		want := []string{
			`agg.reply.w1 w1 {"id":"r1","value":1}`,
			`agg.reply.w2 w2 {"id":"r1","value":2}`,
			`agg.reply.w3 w3 {"id":"r1","value":3.5}`,
		}
		if !slices.Equal(got, want) {
			t.Errorf("replies\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}

		// Expecting fewer replies than workers: the first two count, any JSON id is echoed.
		publishAsHost(t, r, "agg.request", `{"id":{"n":2},"expect":2}`, exampleUser)
		var res struct {
			ID      json.RawMessage `json:"id"`
			Replies int             `json:"replies"`
			Sum     float64         `json:"sum"`
		}
		if err := json.Unmarshal(receive(t, results, 1, 20*time.Second)[0].Payload, &res); err != nil {
			t.Fatal(err)
		}
		if string(res.ID) != `{"n":2}` || res.Replies != 2 || !slices.Contains([]float64{3, 4.5, 5.5}, res.Sum) {
			t.Errorf("agg.result %+v (id %s), want 2 replies summing two of 1, 2, 3.5", res, res.ID)
		}
	})

	t.Run("Echo", func(t *testing.T) {
		echo := start(t, "echo", "echo", nil)
		out := hostSubscribe(t, r, "echo.out")
		payloads := []string{
			`{"a":[1,2,{"b":null}]}`,
			`"text"`,
			`42`,
			" { \"spaced\" : true }\n",
			`"` + strings.Repeat("e", 100<<10) + `"`, // over the SDK's first 64 KiB receive buffer
			`[]`,
		}
		for _, p := range payloads {
			publishAsHost(t, r, "echo.in", p, exampleUser)
		}
		got := receive(t, out, len(payloads), 20*time.Second)
		for i, m := range got {
			if string(m.Payload) != payloads[i] {
				t.Errorf("echo.out %d: %.40q (%d bytes), want %.40q (%d bytes)", i, m.Payload, len(m.Payload), payloads[i], len(payloads[i]))
			}
			if m.Source != echo.Status().InstanceID || m.Principal != exampleUser {
				t.Errorf("echo.out %d from %v as %v", i, m.Source, m.Principal)
			}
		}
	})
}
