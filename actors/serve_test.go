package actors_test

// Integration test of guest.Serve: the serve test capsule (testdata/guests/serve), built from
// source, runs under the real runtime, driven with capsuletest.

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/astrid-actors/astrid-actors/actors"
	"github.com/astrid-actors/astrid-actors/capsuletest"
	"github.com/astrid-actors/astrid-actors/hostfuncs"
	"github.com/astrid-actors/astrid-actors/internal/testguests"
	"github.com/astrid-actors/astrid-actors/supervision"
)

var serveGrants = hostfuncs.Grants{Publish: []string{"serve.out"},
	Subscribe: []string{"serve.num", "serve.raw.*", "serve.batch", "serve.stop"}}

func TestGuestServe(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	h := capsuletest.New(t, capsuletest.Options{Runtime: actors.Options{Logger: zap.New(core),
		Engine: actors.EngineOptions{CacheDir: filepath.Join(os.TempDir(), "astrid-actors-test-cache")}}})
	wasm := testguests.Build(t, "testdata/guests/serve")
	transient := supervision.DefaultPolicy()
	transient.Restart = supervision.Transient
	start := func(id string) *actors.Capsule {
		return h.StartWasm(wasm, actors.CapsuleSpec{ID: id, Grants: serveGrants, Policy: &transient})
	}
	out := h.Subscribe("serve.out")
	type reply struct {
		H     string          `json:"h"`
		N     int             `json:"n"`
		Topic string          `json:"topic"`
		P     json.RawMessage `json:"p"`
		Lost  uint64          `json:"lost"`
	}
	decode := func(t *testing.T, n int) []reply {
		t.Helper()
		var rs []reply
		for _, m := range out.Expect(n) {
			var r reply
			if err := json.Unmarshal(m.Payload, &r); err != nil {
				t.Fatal(err)
			}
			rs = append(rs, r)
		}
		return rs
	}
	logged := func(msg string) func() bool {
		return func() bool { return logs.FilterMessageSnippet(msg).Len() > 0 }
	}

	c := start("serve")
	// Serve subscribed every pattern before it signalled ready: nothing published after
	// StartWasm returned is lost.
	t.Run("Handle decodes and skips what does not decode", func(t *testing.T) {
		h.Publish("serve.num", `{"n":1}`)
		h.Publish("serve.num", `"not an object"`)
		h.Publish("serve.num", `{"n":2}`)
		if got := decode(t, 2); got[0].H != "num" || got[0].N != 1 || got[1].H != "num" || got[1].N != 2 {
			t.Errorf("replies %+v", got)
		}
		h.WaitFor("the skipped payload's warning", logged("serve serve.num: serve.num: payload does not decode"))
	})
	t.Run("On logs a handler error and goes on", func(t *testing.T) {
		h.Publish("serve.raw.a", `"fail"`)
		h.Publish("serve.raw.b.c", `[5]`)
		got := decode(t, 1)[0]
		if got.H != "raw" || got.Topic != "serve.raw.b.c" || string(got.P) != `[5]` {
			t.Errorf("reply %+v (p %s)", got, got.P)
		}
		h.WaitFor("the handler error's warning", logged("serve serve.raw.*: handling serve.raw.a: told to fail"))
	})
	t.Run("each subscription keeps its order, none starves", func(t *testing.T) {
		var want []string
		for i := range 20 {
			h.PublishJSON("serve.num", map[string]int{"n": i})
			h.PublishJSON("serve.raw.x", i)
			want = append(want, "num", "raw")
		}
		var nums, raws []int
		var kinds []string
		for _, r := range decode(t, 40) {
			kinds = append(kinds, r.H)
			if r.H == "num" {
				nums = append(nums, r.N)
			} else {
				var n int
				_ = json.Unmarshal(r.P, &n)
				raws = append(raws, n)
			}
		}
		if !slices.IsSorted(nums) || !slices.IsSorted(raws) || len(nums) != 20 || len(raws) != 20 {
			t.Errorf("per-topic order broken: num %v, raw %v", nums, raws)
		}
		slices.Sort(kinds)
		slices.Sort(want)
		if !slices.Equal(kinds, want) {
			t.Errorf("handlers %v", kinds)
		}
	})
	t.Run("OnBatch sees whole batches", func(t *testing.T) {
		for range 3 {
			h.Publish("serve.batch", `{}`)
		}
		total := 0
		for total < 3 {
			r := decode(t, 1)[0]
			if r.H != "batch" || r.N == 0 || r.Lost != 0 {
				t.Fatalf("reply %+v", r)
			}
			total += r.N
		}
		if total != 3 {
			t.Errorf("batches carried %d messages, want 3", total)
		}
	})
	t.Run("ErrStop ends the run loop normally", func(t *testing.T) {
		h.Publish("serve.stop", `{}`)
		e := h.ExpectEvent(actors.TopicExited, "serve")
		if e.InstanceID != c.Status().InstanceID.String() {
			t.Errorf("exited event %v", e)
		}
		h.WaitState(c, actors.StateExited)
		if st := c.Status(); st.Traffic.Unaccounted() != 0 {
			t.Errorf("traffic %+v does not balance", st.Traffic)
		}
	})
	t.Run("a stop makes Serve return nil", func(t *testing.T) {
		c := start("serve2")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		for _, e := range logs.FilterLevelExact(zapcore.ErrorLevel).All() {
			if strings.HasPrefix(e.Message, "serve:") {
				t.Errorf("Serve returned an error: %s", e.Message)
			}
		}
	})
}
