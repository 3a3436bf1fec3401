package bench

import "time"

// pacer paces a fixed-rate publisher.
type pacer interface {
	// wait blocks until the next tick and returns how many periods passed since the previous
	// one (more than 1 when the caller fell behind: it should catch up).
	wait() (int, error)
	stop()
	// precise is false for the time.Ticker fallback, whose ticks come in ~1 ms bursts.
	precise() bool
}

// tickerPacer is the portable fallback: a 1 ms time.Ticker that reports the periods elapsed,
// so the average rate holds while messages go out in bursts.
type tickerPacer struct {
	t      *time.Ticker
	period time.Duration
	start  time.Time
	ticks  int
}

func newTickerPacer(period time.Duration) *tickerPacer {
	return &tickerPacer{t: time.NewTicker(max(period, time.Millisecond)), period: period, start: time.Now()}
}

func (p *tickerPacer) wait() (int, error) {
	now := <-p.t.C
	due := int(now.Sub(p.start) / p.period)
	n := due - p.ticks
	p.ticks = due
	return n, nil
}

func (p *tickerPacer) stop() { p.t.Stop() }

func (p *tickerPacer) precise() bool { return false }
