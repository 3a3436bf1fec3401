package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/astrid-actors/astrid-actors/actors"
	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/internal/actorsys"
)

// maxRoundTrips bounds one rtt run: the requester keeps 8 bytes per sample in its memory,
// which the default capsule limit caps at 64 MiB.
const maxRoundTrips = 4 << 20

func runRTT(ctx context.Context, e *env) (_ []Result, err error) {
	pl := payload(e.cfg.PayloadBytes)
	capsules, err := e.rttCapsules(ctx, pl)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := capsules.g.close(); err == nil {
			err = cerr
		}
	}()
	d := max(e.cfg.Duration/time.Duration(e.cfg.Rounds), 10*time.Millisecond)
	cs := []latencyContender{{name: "capsules"}, {name: "protoactor request/reply"}, {name: "Go channel ping-pong"}}
	runs := []func(context.Context, int) ([]int64, error){capsules.run, protoactorPingPong, channelPingPong}
	for i := range cs {
		run := runs[i]
		n0 := 1000
		if i == 0 {
			n0 = 200
		}
		// size each contender's rounds once, then run them interleaved
		n, _, err := calibrate(ctx, d, n0, 1, maxRoundTrips, func(n int) (time.Duration, error) {
			start := time.Now()
			_, err := run(ctx, n)
			return time.Since(start), err
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cs[i].name, err)
		}
		cs[i].run = func() ([]int64, error) { return run(ctx, n) }
	}
	m, err := e.latencyRounds(ctx, ScenarioRTT, cs)
	if err != nil {
		return nil, err
	}
	note := fmt.Sprintf("%d rounds of %d round trips between two capsules (rttreq → echo), %d-byte payload, measured in the requester with clock-monotonic-ns, each round followed by the baselines; %s",
		e.cfg.Rounds, m.samples[0], len(pl), dropNote(capsuleDrops(capsules.caps...)))
	return latencyRoundsResults(ScenarioRTT, note, []string{cs[1].name, cs[2].name}, m, noTarget, noTarget), nil
}

// rttRig is the capsule side of the rtt scenario: a requester and an echo capsule.
type rttRig struct {
	e    *env
	g    *rig
	out  *bus.Subscription
	caps []*actors.Capsule
}

func (e *env) rttCapsules(ctx context.Context, pl []byte) (_ *rttRig, err error) {
	g, err := e.newRig(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = g.close()
		}
	}()
	out, err := g.subscribe(ctx, "rtt.samples")
	if err != nil {
		return nil, err
	}
	resp, err := g.start(ctx, "rtt-responder", wasmEcho, []string{"rtt.rep"}, []string{"rtt.req"},
		map[string]string{"in": "rtt.req", "out": "rtt.rep"})
	if err != nil {
		return nil, err
	}
	req, err := g.start(ctx, "rtt-requester", wasmRTTReq, []string{"rtt.req", "rtt.samples"}, []string{"rtt.go", "rtt.rep"},
		map[string]string{"payload": string(pl)})
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, resp, req); err != nil {
		return nil, err
	}
	return &rttRig{e: e, g: g, out: out, caps: []*actors.Capsule{resp, req}}, nil
}

// run has the requester do n round trips and returns their samples.
func (r *rttRig) run(ctx context.Context, n int) ([]int64, error) {
	if _, err := r.g.publish("rtt.go", []byte(strconv.Itoa(n))); err != nil {
		return nil, err
	}
	samples := make([]int64, 0, n)
	if _, err := collect(ctx, r.out, n, r.e.timeout(), func(m *bus.Message) (int, error) {
		var chunk []int64
		if err := json.Unmarshal(m.Payload, &chunk); err != nil {
			return 0, fmt.Errorf("rtt.samples payload: %w", err)
		}
		samples = append(samples, chunk...)
		return len(chunk), nil
	}); err != nil {
		return nil, err
	}
	if len(samples) != n {
		return nil, fmt.Errorf("got %d samples for %d round trips", len(samples), n)
	}
	return samples, nil
}

// target is a performance target and its check (nil: none).
type target struct {
	text  string
	check func(float64) bool
}

var noTarget = target{}

type (
	pingStart struct {
		n     int
		reply chan []int64
	}
	ping struct{}
	pong struct{}
)

// pingRequester sends ping requests one at a time to its peer and times each reply.
type pingRequester struct {
	peer    *actor.PID
	n       int
	t0      time.Time
	samples []int64
	reply   chan []int64
}

func (a *pingRequester) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case pingStart:
		a.n, a.reply, a.samples = m.n, m.reply, make([]int64, 0, m.n)
		a.t0 = time.Now()
		ctx.Request(a.peer, ping{})
	case pong:
		a.samples = append(a.samples, int64(time.Since(a.t0)))
		if len(a.samples) == a.n {
			a.reply <- a.samples
			return
		}
		a.t0 = time.Now()
		ctx.Request(a.peer, ping{})
	}
}

type pingResponder struct{}

func (pingResponder) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(ping); ok {
		ctx.Respond(pong{})
	}
}

// protoactorPingPong is request/reply between two plain protoactor-go actors: the requester
// times ctx.Request → the responder's ctx.Respond → back.
func protoactorPingPong(ctx context.Context, n int) ([]int64, error) {
	system := actorsys.New(nil)
	defer system.Shutdown()
	responder := system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return pingResponder{} }))
	requester := system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &pingRequester{peer: responder} }))
	defer func() {
		_ = system.Root.StopFuture(requester).Wait()
		_ = system.Root.StopFuture(responder).Wait()
	}()
	reply := make(chan []int64, 1)
	system.Root.Send(requester, pingStart{n: n, reply: reply})
	select {
	case s := <-reply:
		return s, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// channelPingPong is request/reply between two goroutines over unbuffered Go channels.
func channelPingPong(_ context.Context, n int) ([]int64, error) {
	req, rep := make(chan struct{}), make(chan struct{})
	go func() {
		for range req {
			rep <- struct{}{}
		}
	}()
	defer close(req)
	samples := make([]int64, 0, n)
	for range n {
		t0 := time.Now()
		req <- struct{}{}
		<-rep
		samples = append(samples, int64(time.Since(t0)))
	}
	return samples, nil
}
