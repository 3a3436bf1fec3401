package main

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/astrid-actors/astrid-actors/actors"
	"github.com/astrid-actors/astrid-actors/hostfuncs"
	"github.com/astrid-actors/astrid-actors/supervision"
)

// The refused-call counters of a capsule are exported exactly as
// astrid_host_calls_refused_total{capsule,fn,code}: flood.wasm publishes 400 times per
// instance under a budget of 100 messages, so its two instances are refused 700 times.
func TestRefusedCallsMetric(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, err := actors.New(ctx, actors.Options{Engine: actors.EngineOptions{CacheDir: cacheDir}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := r.Close(closeCtx); err != nil {
			t.Error(err)
		}
	}()
	wasm, err := os.ReadFile("../../testdata/wat/flood.wasm")
	if err != nil {
		t.Fatal(err)
	}
	mod, err := r.Compile(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.Start(ctx, actors.CapsuleSpec{ID: "flooder", Module: mod,
		Grants: hostfuncs.Grants{Publish: []string{"flood"}},
		Limits: actors.Limits{IPC: hostfuncs.Limits{ThroughputMessagesPerSec: 1, RateWindow: 100 * time.Second}},
		Policy: &supervision.Policy{Restart: supervision.Permanent, MaxRestarts: 1, Within: time.Minute,
			BackoffInitial: time.Millisecond, BackoffMax: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(20 * time.Second):
		t.Fatalf("flooder still %v", c.Status().State)
	}
	m := newMetrics()
	m.attach(r)
	families, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range families {
		if f.GetName() != "astrid_host_calls_refused_total" {
			continue
		}
		for _, mt := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got = append(got, fmt.Sprintf("%s %s %s %v", labels["capsule"], labels["fn"], labels["code"], mt.GetCounter().GetValue()))
		}
	}
	if want := "flooder astrid:ipc/publish rate-limited 700"; len(got) != 1 || got[0] != want {
		t.Fatalf("astrid_host_calls_refused_total = %q, want [%q]", got, want)
	}
}
