package bench

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/astrid-actors/astrid-actors/actors"
	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/hostfuncs"
	"github.com/astrid-actors/astrid-actors/supervision"
)

// fixtures are the benchmark capsules: WAT sources and the .wasm built from them with
// wat2wasm (TestFixturesMatchWAT checks they agree).
//
//go:embed wasm/*.wasm
var fixtures embed.FS

// Fixture names.
const (
	wasmPub    = "benchpub"
	wasmBatch  = "benchbatch"
	wasmSink   = "benchsink"
	wasmEcho   = "echo"
	wasmRTTReq = "rttreq"
	wasmIdle   = "idle"
	wasmCrashy = "crashy"
)

func fixture(name string) ([]byte, error) {
	b, err := fixtures.ReadFile("wasm/" + name + ".wasm")
	if err != nil {
		return nil, fmt.Errorf("fixture %s: %w", name, err)
	}
	return b, nil
}

// benchLimits lift the per-capsule throughput limit and the mailbox caps so the scenarios
// measure the message path, not the policies (as actors/bench_test.go does).
var benchLimits = actors.Limits{IPC: hostfuncs.Limits{
	ThroughputBytesPerSec:    1 << 40,
	ThroughputMessagesPerSec: 1 << 40,
	Mailbox:                  bus.MailboxLimits{Bytes: 256 << 20, PerPrincipal: 1 << 22},
}}

// hostMailbox are the limits of the host's own subscriptions (reports, samples, echoes).
var hostMailbox = bus.MailboxLimits{Bytes: 256 << 20, PerPrincipal: 1 << 22}

// rig is one actors.Runtime with the capsules of a scenario.
type rig struct {
	e       *env
	r       *actors.Runtime
	modules map[string]*actors.Module
	subs    []*bus.Subscription
}

// newRig starts a runtime with the watchdog off (a publisher legitimately runs for a long
// time without a yielding call) and the given default supervision policy (nil: the default).
func (e *env) newRig(ctx context.Context, policy *supervision.Policy) (*rig, error) {
	r, err := actors.New(ctx, actors.Options{
		Engine:      actors.EngineOptions{CacheDir: e.cfg.CacheDir},
		Watchdog:    &supervision.Watchdog{},
		Supervision: policy,
	})
	if err != nil {
		return nil, err
	}
	return &rig{e: e, r: r, modules: map[string]*actors.Module{}}, nil
}

// close stops everything; it uses its own context so that a cancelled run still cleans up.
func (g *rig) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var errs []error
	for _, s := range g.subs {
		errs = append(errs, s.Close(ctx))
	}
	errs = append(errs, g.r.Close(ctx))
	return errors.Join(errs...)
}

// module compiles a fixture once per rig.
func (g *rig) module(ctx context.Context, name string) (*actors.Module, error) {
	if m := g.modules[name]; m != nil {
		return m, nil
	}
	wasm, err := fixture(name)
	if err != nil {
		return nil, err
	}
	m, err := g.r.Compile(ctx, wasm)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", name, err)
	}
	g.modules[name] = m
	return m, nil
}

// start starts a capsule of fixture name with the benchmark limits.
func (g *rig) start(ctx context.Context, id, name string, pub, sub []string, config map[string]string) (*actors.Capsule, error) {
	m, err := g.module(ctx, name)
	if err != nil {
		return nil, err
	}
	return g.r.Start(ctx, actors.CapsuleSpec{
		ID: id, Module: m, Limits: benchLimits, Config: config,
		Grants: hostfuncs.Grants{Publish: pub, Subscribe: sub},
	})
}

// waitReady waits for every capsule's signal-ready.
func waitReady(ctx context.Context, caps ...*actors.Capsule) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute+time.Duration(len(caps))*10*time.Millisecond)
	defer cancel()
	for _, c := range caps {
		if err := c.WaitReady(ctx); err != nil {
			return err
		}
	}
	return nil
}

// subscribe subscribes the host to pattern with large mailbox limits.
func (g *rig) subscribe(ctx context.Context, pattern string) (*bus.Subscription, error) {
	s, err := g.r.Bus().Subscribe(ctx, pattern, bus.SubscribeOptions{Mailbox: hostMailbox})
	if err != nil {
		return nil, err
	}
	g.subs = append(g.subs, s)
	return s, nil
}

// publish publishes payload on topic as the system.
func (g *rig) publish(topic string, payload []byte) (bus.PublishResult, error) {
	return g.r.Bus().Publish(topic, payload, uuid.Nil, bus.System())
}

// collect drains s and hands every message to each, which returns how many units the
// message counts for, until want units were seen. It fails on a timeout, when ctx ends, when
// each fails, or when the host subscription itself dropped messages.
func collect(ctx context.Context, s *bus.Subscription, want int, timeout time.Duration, each func(*bus.Message) (int, error)) (int, error) {
	deadline := time.Now().Add(timeout)
	got := 0
	dst := make([]*bus.Message, 0, 1024)
	for got < want {
		left := time.Until(deadline)
		if left <= 0 {
			return got, fmt.Errorf("timed out after %v with %d of %d on %s", timeout, got, want, s.Pattern())
		}
		if _, err := s.Mailbox().Wait(ctx, min(left, time.Second)); err != nil {
			return got, err
		}
		batch := s.Mailbox().Drain(dst[:0], 1<<20, func(*bus.Message) bool { return true })
		if batch.Dropped > 0 {
			return got, fmt.Errorf("the host subscription %s dropped %d messages", s.Pattern(), batch.Dropped)
		}
		for _, m := range batch.Messages {
			k, err := each(m)
			if err != nil {
				return got, err
			}
			got += k
		}
		clear(batch.Messages)
		dst = batch.Messages
	}
	return got, nil
}

// capsuleDrops sums what the capsules' statuses report as dropped and discarded.
func capsuleDrops(caps ...*actors.Capsule) uint64 {
	var n uint64
	for _, c := range caps {
		st := c.Status()
		n += st.Dropped + st.Discarded
	}
	return n
}
