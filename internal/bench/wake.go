package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/astrid-actors/astrid-actors/bus"
)

// wakeMinPayload is the smallest wake payload: a JSON string holding the 10-digit index.
const wakeMinPayload = 12

// wakePayload is message i of the wake scenario: size bytes of JSON that carry i.
func wakePayload(i, size int) []byte {
	prefix := fmt.Sprintf(`{"i":"%010d","pad":"`, i)
	if pad := size - len(prefix) - 2; pad >= 0 {
		return []byte(prefix + strings.Repeat("x", pad) + `"}`)
	}
	return []byte(fmt.Sprintf(`"%010d`, i) + strings.Repeat("x", max(size-wakeMinPayload, 0)) + `"`)
}

// wakeIndex reads i back from a wakePayload.
func wakeIndex(p []byte) (int, error) {
	var digits []byte
	switch {
	case len(p) >= 16 && p[0] == '{':
		digits = p[6:16]
	case len(p) >= 11 && p[0] == '"':
		digits = p[1:11]
	default:
		return 0, fmt.Errorf("wake payload %.40q carries no index", p)
	}
	return strconv.Atoi(string(digits))
}

func runWake(ctx context.Context, e *env) (_ []Result, err error) {
	size := max(e.cfg.PayloadBytes, wakeMinPayload)
	period := time.Second / WakeRate
	n := max(int(float64(WakeRate)*(e.cfg.Duration/time.Duration(e.cfg.Rounds)).Seconds()), 100)
	warm := max(n/10, 100)

	g, capsule, err := e.wakeCapsule(ctx, size, period)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := g.close(); err == nil {
			err = cerr
		}
	}()
	var last wakeResult
	cs := []latencyContender{
		{name: "capsule", run: func() ([]int64, error) {
			r, err := capsule(n)
			last = r
			return r.samples, err
		}},
		{name: "Go channel hop", run: func() ([]int64, error) {
			s, _, err := channelHop(ctx, n, period)
			return s, err
		}},
	}
	if _, err := capsule(warm); err != nil {
		return nil, fmt.Errorf("capsule: warm-up: %w", err)
	}
	if _, _, err := channelHop(ctx, warm, period); err != nil {
		return nil, fmt.Errorf("baseline %s: warm-up: %w", cs[1].name, err)
	}
	m, err := e.latencyRounds(ctx, ScenarioWake, cs)
	if err != nil {
		return nil, err
	}
	note := fmt.Sprintf("%d rounds of %d messages of %d bytes from the host at %.0f msg/s (last round; target rate %d) to an echo capsule blocked in recv, each round followed by the baseline; "+
		"latency = bus time of the echo's publish − bus time of the host's publish; %s",
		e.cfg.Rounds, n, size, rate(n, last.el), WakeRate, dropNote(last.dropped))
	if r := rate(n, last.el); r < 0.9*WakeRate {
		note += fmt.Sprintf("; THE HOST PUBLISHED AT ONLY %.0f msg/s: the latencies include queueing", r)
	}
	if size != e.cfg.PayloadBytes {
		note += fmt.Sprintf("; payload raised to %d bytes to carry the message index", size)
	}
	if p, err := newPacer(period); err == nil {
		if !p.precise() {
			note += "; paced by a 1 ms ticker (bursts of ~10 messages): no timerfd on this OS"
		}
		p.stop()
	}
	return latencyRoundsResults(ScenarioWake, note, []string{cs[1].name}, m,
		noTarget, target{"≤ 200 µs", atMost(200)}), nil
}

type wakeResult struct {
	samples []int64
	el      time.Duration
	dropped uint64 // by the capsule since it started
}

// wakeCapsule starts an echo capsule and returns its rig and a function that publishes n
// messages at the fixed rate to it and returns their latencies.
func (e *env) wakeCapsule(ctx context.Context, size int, period time.Duration) (_ *rig, _ func(int) (wakeResult, error), err error) {
	g, err := e.newRig(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			_ = g.close()
		}
	}()
	out, err := g.subscribe(ctx, "wake.out")
	if err != nil {
		return nil, nil, err
	}
	c, err := g.start(ctx, "wake-echo", wasmEcho, []string{"wake.out"}, []string{"wake.in"},
		map[string]string{"in": "wake.in", "out": "wake.out"})
	if err != nil {
		return nil, nil, err
	}
	if err := waitReady(ctx, c); err != nil {
		return nil, nil, err
	}
	run := func(n int) (wakeResult, error) {
		sent := make([]time.Time, n)
		stop := make(chan struct{})
		echoes := make(chan drained, 1)
		dropped0 := capsuleDrops(c)
		lost := func() int { return int(capsuleDrops(c) - dropped0) }
		go func() { echoes <- drainEchoes(ctx, out, n, lost, e.timeout(), stop) }()
		finish := func(err error) (wakeResult, error) {
			close(stop)
			<-echoes
			return wakeResult{}, err
		}
		p, err := newPacer(period)
		if err != nil {
			return finish(err)
		}
		start := time.Now()
		for i := 0; i < n; {
			k, err := p.wait()
			if err != nil {
				p.stop()
				return finish(err)
			}
			for ; k > 0 && i < n; k-- {
				res, err := g.publish("wake.in", wakePayload(i, size))
				if err != nil {
					p.stop()
					return finish(err)
				}
				sent[i] = res.Message.Time
				i++
			}
			if ctx.Err() != nil {
				p.stop()
				return finish(ctx.Err())
			}
		}
		el := time.Since(start)
		p.stop()
		d := <-echoes
		if d.err != nil {
			return wakeResult{}, d.err
		}
		samples := make([]int64, len(d.echoes))
		for j, echo := range d.echoes {
			samples[j] = int64(echo.at.Sub(sent[echo.i]))
		}
		return wakeResult{samples: samples, el: el, dropped: capsuleDrops(c)}, nil
	}
	return g, run, nil
}

// echo is one echoed message: its index and the bus time of the echo's publish.
type echo struct {
	i  int
	at time.Time
}

type drained struct {
	echoes []echo
	err    error
}

// drainEchoes collects the echoes of n messages from s, draining it every 20 ms (so that
// collecting does not add a wake-up per message to the measurement), until it has n minus
// the lost ones (messages the echo capsule was told were dropped), stop is closed, the
// timeout passes or ctx ends.
func drainEchoes(ctx context.Context, s *bus.Subscription, n int, lost func() int, timeout time.Duration, stop <-chan struct{}) drained {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	deadline := time.Now().Add(timeout)
	echoes := make([]echo, 0, n)
	dst := make([]*bus.Message, 0, 1024)
	for len(echoes)+lost() < n {
		select {
		case <-t.C:
		case <-stop:
			return drained{err: errors.New("stopped")}
		case <-ctx.Done():
			return drained{err: ctx.Err()}
		}
		if time.Now().After(deadline) {
			return drained{err: fmt.Errorf("timed out after %v with %d echoes and %d drops of %d messages", timeout, len(echoes), lost(), n)}
		}
		for {
			batch := s.Mailbox().Drain(dst[:0], 1<<20, func(*bus.Message) bool { return true })
			if batch.Dropped > 0 {
				return drained{err: fmt.Errorf("the host subscription %s dropped %d messages", s.Pattern(), batch.Dropped)}
			}
			if len(batch.Messages) == 0 {
				break
			}
			for _, m := range batch.Messages {
				i, err := wakeIndex(m.Payload)
				if err != nil || i >= n {
					return drained{err: fmt.Errorf("echo %.40q: bad index (%v)", m.Payload, err)}
				}
				echoes = append(echoes, echo{i: i, at: m.Time})
			}
			clear(batch.Messages)
			dst = batch.Messages
		}
	}
	return drained{echoes: echoes}
}

// channelHop sends n timestamps at the fixed rate over a buffered Go channel to a goroutine
// blocked in receive, which records how long each took to arrive.
func channelHop(ctx context.Context, n int, period time.Duration) ([]int64, time.Duration, error) {
	ch := make(chan time.Time, 1024)
	samples := make([]int64, 0, n)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for t := range ch {
			samples = append(samples, int64(time.Since(t)))
		}
	}()
	p, err := newPacer(period)
	if err != nil {
		close(ch)
		<-done
		return nil, 0, err
	}
	defer p.stop()
	start := time.Now()
	var werr error
	for i := 0; i < n && werr == nil; {
		var k int
		if k, werr = p.wait(); werr != nil {
			break
		}
		for ; k > 0 && i < n; k-- {
			ch <- time.Now()
			i++
		}
		werr = ctx.Err()
	}
	el := time.Since(start)
	close(ch)
	<-done
	return samples, el, werr
}
