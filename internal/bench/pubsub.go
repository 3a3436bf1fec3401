package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"

	"github.com/astrid-actors/astrid-actors/actors"
	"github.com/astrid-actors/astrid-actors/bus"
	"github.com/astrid-actors/astrid-actors/internal/actorsys"
)

// maxPublishes bounds one throughput run (benchpub reads N as an i32).
const maxPublishes = 1 << 30

// sinkChunk is the benchsink report interval: every sink publishes on bench.done each time it
// has handled this many messages, and every run is a multiple of it: 1000 messages, fewer for
// large payloads so that the shortest run stays short.
func sinkChunk(payloadBytes int) int { return min(1000, max(10, (1<<20)/max(payloadBytes, 1))) }

func runPubSub(ctx context.Context, e *env) ([]Result, error) {
	r, err := e.throughput(ctx, ScenarioPubSub, 1)
	if err != nil {
		return nil, err
	}
	return []Result{r}, nil
}

func runFanout(ctx context.Context, e *env) ([]Result, error) {
	r, err := e.throughput(ctx, ScenarioFanout, e.cfg.Subscribers)
	if err != nil {
		return nil, err
	}
	return []Result{r}, nil
}

// throughput measures one publisher capsule → sinks subscriber capsules, then the baselines
// with the same number of subscribers.
func (e *env) throughput(ctx context.Context, scenario string, sinks int) (Result, error) {
	pl := payload(e.cfg.PayloadBytes)
	chunk := sinkChunk(len(pl))
	ps, err := e.startPubSub(ctx, sinks, chunk, pl, wasmPub, nil)
	if err != nil {
		return Result{}, err
	}
	names := []string{"bus alone (Go)", "protoactor actors", "Go channels"}
	cs := []contender{{name: "capsules", n0: chunk, step: chunk, per: sinks, run: func(n int) (time.Duration, uint64, error) {
		return ps.run(ctx, n)
	}}}
	var stops []func()
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	for i, run := range []func(context.Context, int, []byte) (func(int) (time.Duration, error), func(), error){
		busAlone, protoactorFanout, channelFanout,
	} {
		f, stop, err := run(ctx, sinks, pl)
		if err != nil {
			_ = ps.g.close()
			return Result{}, fmt.Errorf("baseline %s: %w", names[i], err)
		}
		stops = append(stops, stop)
		cs = append(cs, contender{name: names[i], n0: 1000, step: 1, per: sinks, run: func(n int) (time.Duration, uint64, error) {
			el, err := f(n)
			return el, 0, err
		}})
	}
	m, err := e.rounds(ctx, scenario, cs)
	extra := capsuleDrops(ps.sinks...)
	if cerr := ps.g.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Result{}, err
	}
	n, el, dropped := m.n[0], m.elapsed[0], m.dropped[0]
	if scenario == ScenarioPubSub {
		names[1], names[2] = "protoactor 2 actors", "Go channel"
	}
	note := fmt.Sprintf("%d rounds of %d messages of %d bytes × %d subscriber capsule(s) (last %v), each round followed by the baselines; benchsink recv batches; %s",
		e.cfg.Rounds, n, len(pl), sinks, el.Round(time.Millisecond), dropNote(dropped))
	if extra > dropped {
		note += fmt.Sprintf("; capsule status reports %d dropped or discarded", extra)
	}
	value := spreadOf(m.rates[0]).med
	if scenario == ScenarioPubSub {
		e.progress("%s: %.0f msg/s", scenario, value)
		return roundsResult(scenario, "throughput 1→1", "msg/s", "≥ 1000000 msg/s", atLeast(1e6), note, names, m), nil
	}
	e.progress("%s: %.0f deliveries/s", scenario, value)
	metric := fmt.Sprintf("deliveries 1→%d", sinks)
	if sinks != DefaultSubscribers {
		note += fmt.Sprintf("; the target is for 1→%d", DefaultSubscribers)
		return roundsResult(scenario, metric, "deliveries/s", "", nil, note, names, m), nil
	}
	return roundsResult(scenario, metric, "deliveries/s", "≥ 5000000 deliveries/s", atLeast(5e6), note, names, m), nil
}

// pubSubCapsules are a benchpub capsule and benchsink capsules in one runtime.
type pubSubCapsules struct {
	e     *env
	g     *rig
	chunk int
	pub   *actors.Capsule
	sinks []*actors.Capsule
	done  *bus.Subscription
}

// startPubSub starts a publisher capsule of fixture pub (benchpub or benchbatch) with pl as its
// "payload" config and the entries of config, and sinks benchsink capsules reporting every
// chunk messages.
func (e *env) startPubSub(ctx context.Context, sinks, chunk int, pl []byte, pub string, config map[string]string) (_ *pubSubCapsules, err error) {
	g, err := e.newRig(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = g.close()
		}
	}()
	ps := &pubSubCapsules{e: e, g: g, chunk: chunk}
	if ps.done, err = g.subscribe(ctx, "bench.done"); err != nil {
		return nil, err
	}
	for i := range sinks {
		c, err := g.start(ctx, fmt.Sprint("sink-", i), wasmSink, []string{"bench.done"}, []string{"bench.data"},
			map[string]string{"n": strconv.Itoa(chunk)})
		if err != nil {
			return nil, err
		}
		ps.sinks = append(ps.sinks, c)
	}
	pubConfig := map[string]string{"payload": string(pl)}
	for k, v := range config {
		pubConfig[k] = v
	}
	if ps.pub, err = g.start(ctx, "pub", pub, []string{"bench.data"}, []string{"bench.go"}, pubConfig); err != nil {
		return nil, err
	}
	if err := waitReady(ctx, append([]*actors.Capsule{ps.pub}, ps.sinks...)...); err != nil {
		return nil, err
	}
	return ps, nil
}

// run has the publisher publish n messages (a multiple of the chunk) and waits until every
// sink has reported them; it returns the time from the go message to the last report and the
// messages the sinks were told were dropped.
func (ps *pubSubCapsules) run(ctx context.Context, n int) (time.Duration, uint64, error) {
	reports := n / ps.chunk * len(ps.sinks)
	var dropped uint64
	start := time.Now()
	if _, err := ps.g.publish("bench.go", []byte(strconv.Itoa(n))); err != nil {
		return 0, 0, err
	}
	_, err := collect(ctx, ps.done, reports, ps.e.timeout(), func(m *bus.Message) (int, error) {
		d, err := strconv.ParseUint(string(m.Payload), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench.done payload %q: %w", m.Payload, err)
		}
		dropped += d
		return 1, nil
	})
	return time.Since(start), dropped, err
}

// busAlone is the bus driven from Go: one goroutine publishes through a bus.Publisher (the
// capsule's publish path uses one too: the same match cache, validation and copy), one goroutine
// per subscription drains (Wait + Drain, like a capsule's recv).
func busAlone(ctx context.Context, subs int, pl []byte) (func(int) (time.Duration, error), func(), error) {
	system := actorsys.New(nil)
	b, err := bus.New(system, bus.Options{Mailbox: hostMailbox})
	if err != nil {
		system.Shutdown()
		return nil, nil, err
	}
	stop := func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = b.Close(cctx)
		system.Shutdown()
	}
	var ss []*bus.Subscription
	for range subs {
		s, err := b.Subscribe(ctx, "bench.data", bus.SubscribeOptions{Mailbox: hostMailbox})
		if err != nil {
			stop()
			return nil, nil, err
		}
		ss = append(ss, s)
	}
	src, pub := uuid.New(), b.NewPublisher()
	run := func(n int) (time.Duration, error) {
		var wg sync.WaitGroup
		errs := make(chan error, len(ss))
		start := time.Now()
		for _, s := range ss {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got := uint64(0)
				dst := make([]*bus.Message, 0, 1024)
				for got < uint64(n) {
					batch := s.Mailbox().Drain(dst[:0], 1<<20, func(*bus.Message) bool { return true })
					got += uint64(len(batch.Messages)) + batch.Dropped
					for _, m := range batch.Messages {
						m.Release() // as a capsule's recv does: the bus reuses the message
					}
					clear(batch.Messages)
					dst = batch.Messages
					if len(batch.Messages) == 0 {
						if _, err := s.Mailbox().Wait(ctx, time.Second); err != nil {
							errs <- err
							return
						}
					}
				}
			}()
		}
		for range n {
			if _, err := pub.Publish("bench.data", pl, src, bus.System()); err != nil {
				return 0, err
			}
		}
		wg.Wait()
		el := time.Since(start)
		select {
		case err := <-errs:
			return 0, err
		default:
		}
		for _, s := range ss {
			if d := s.Mailbox().Stats().Dropped(); d > 0 {
				return 0, fmt.Errorf("bus baseline dropped %d messages", d)
			}
		}
		return el, nil
	}
	return run, stop, nil
}

// benchGo starts a producer run; benchReset prepares a consumer for one.
type (
	benchGo    struct{ n int }
	benchReset struct {
		want int
		done chan struct{}
	}
)

type benchProducer struct {
	consumers []*actor.PID
	pl        []byte
}

func (p *benchProducer) Receive(ctx actor.Context) {
	if m, ok := ctx.Message().(benchGo); ok {
		for i := range m.n {
			msg := &bus.Message{Seq: uint64(i), Topic: "bench.data", Payload: p.pl}
			for _, c := range p.consumers {
				ctx.Send(c, msg)
			}
		}
	}
}

type benchConsumer struct {
	want, got int
	done      chan struct{}
}

func (c *benchConsumer) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case benchReset:
		c.want, c.got, c.done = m.want, 0, m.done
	case *bus.Message:
		c.got++
		if c.got == c.want {
			close(c.done)
		}
	}
}

// protoactorFanout is plain protoactor-go: a producer actor sends every message to one
// consumer actor per subscriber (default unbounded mailboxes, no matching, no accounting).
func protoactorFanout(_ context.Context, consumers int, pl []byte) (func(int) (time.Duration, error), func(), error) {
	system := actorsys.New(nil)
	var pids []*actor.PID
	for range consumers {
		pids = append(pids, system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &benchConsumer{} })))
	}
	producer := system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &benchProducer{consumers: pids, pl: pl}
	}))
	stop := func() {
		for _, pid := range append(pids, producer) {
			_ = system.Root.StopFuture(pid).Wait()
		}
		system.Shutdown()
	}
	run := func(n int) (time.Duration, error) {
		dones := make([]chan struct{}, len(pids))
		for i, pid := range pids {
			dones[i] = make(chan struct{})
			system.Root.Send(pid, benchReset{want: n, done: dones[i]})
		}
		start := time.Now()
		system.Root.Send(producer, benchGo{n: n})
		for _, d := range dones {
			<-d
		}
		return time.Since(start), nil
	}
	return run, stop, nil
}

// channelFanout moves the messages through one buffered Go channel (capacity 1024) per
// subscriber: the floor any queue can hope for.
func channelFanout(_ context.Context, subs int, pl []byte) (func(int) (time.Duration, error), func(), error) {
	run := func(n int) (time.Duration, error) {
		chans := make([]chan *bus.Message, subs)
		var wg sync.WaitGroup
		start := time.Now()
		for i := range chans {
			chans[i] = make(chan *bus.Message, 1024)
			wg.Add(1)
			go func(c chan *bus.Message) {
				defer wg.Done()
				for range n {
					<-c
				}
			}(chans[i])
		}
		for i := range n {
			m := &bus.Message{Seq: uint64(i), Topic: "bench.data", Payload: pl}
			for _, c := range chans {
				c <- m
			}
		}
		wg.Wait()
		return time.Since(start), nil
	}
	return run, func() {}, nil
}
