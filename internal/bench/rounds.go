package bench

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// DefaultRounds is the default of Config.Rounds.
const DefaultRounds = 3

// contender is one side of an interleaved comparison: the scenario itself (first) or a
// baseline. run(n) does n units of work and returns how long it took and how many of the n
// units did not count (dropped messages); per is the number of results one unit yields
// (deliveries per publish for fan-out).
type contender struct {
	name     string
	n0, step int
	per      int
	run      func(n int) (time.Duration, uint64, error)
}

// spread is the median and range of one figure over the rounds.
type spread struct{ med, min, max float64 }

func spreadOf(v []float64) spread {
	if len(v) == 0 {
		return spread{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return spread{med: med, min: s[0], max: s[len(s)-1]}
}

// interleaved is what rounds measured: the rates of every contender per round, and each
// contender's calibrated n and last elapsed time.
type interleaved struct {
	rates   [][]float64 // [contender][round], units·per/s minus the uncounted
	n       []int
	elapsed []time.Duration
	dropped []uint64 // total over the rounds
	// cpuPer is the process's CPU time per counted unit, ns, of every contender per round
	// (user + system time of the whole process over the run; 0 where not measured).
	cpuPer [][]float64
}

// rounds sizes every contender once with calibrate (each run lasting about
// Config.Duration/Config.Rounds), then runs them in Config.Rounds rounds, each round running
// every contender once in turn, so that a change of load during the bench hits the scenario
// and its baselines alike rather than the ratio.
func (e *env) rounds(ctx context.Context, scenario string, cs []contender) (interleaved, error) {
	rounds := e.cfg.Rounds
	d := max(e.cfg.Duration/time.Duration(rounds), 10*time.Millisecond)
	out := interleaved{rates: make([][]float64, len(cs)), n: make([]int, len(cs)),
		elapsed: make([]time.Duration, len(cs)), dropped: make([]uint64, len(cs)), cpuPer: make([][]float64, len(cs))}
	for i, c := range cs {
		n, _, err := calibrate(ctx, d, c.n0, c.step, maxPublishes, func(n int) (time.Duration, error) {
			el, _, err := c.run(n)
			return el, err
		})
		if err != nil {
			return out, fmt.Errorf("%s: %w", c.name, err)
		}
		out.n[i] = n
	}
	for r := range rounds {
		for i, c := range cs {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			d0 := takeDiag()
			el, dropped, err := c.run(out.n[i])
			d1 := takeDiag()
			if err != nil {
				return out, fmt.Errorf("%s: round %d: %w", c.name, r+1, err)
			}
			el = max(el, time.Microsecond)
			v := (float64(uint64(out.n[i]*c.per)) - float64(dropped)) / el.Seconds()
			out.rates[i] = append(out.rates[i], v)
			units := float64(uint64(out.n[i]*c.per)) - float64(dropped)
			out.cpuPer[i] = append(out.cpuPer[i], float64(d1.cpu-d0.cpu)/max(units, 1))
			out.elapsed[i] = el
			out.dropped[i] += dropped
			e.progress("%s: round %d/%d: %s: %d × %d in %v: %.0f/s (%s)", scenario, r+1, rounds, c.name, out.n[i], c.per,
				el.Round(time.Microsecond), v, d1.since(d0))
		}
	}
	return out, nil
}

// roundsResult builds a Result from interleaved rounds: the value is the median rate of the
// first contender, each baseline's value its median rate, and each ratio the median of the
// per-round ratios (the scenario and the baseline of the same round), each with its range.
func roundsResult(scenario, metric, unit, target string, check func(float64) bool, note string,
	names []string, m interleaved) Result {
	v := spreadOf(m.rates[0])
	bases := make([]Baseline, 0, len(names))
	for i, name := range names {
		b := spreadOf(m.rates[i+1])
		ratios := make([]float64, len(m.rates[0]))
		for r := range ratios {
			if m.rates[i+1][r] > 0 {
				ratios[r] = m.rates[0][r] / m.rates[i+1][r]
			}
		}
		q := spreadOf(ratios)
		bases = append(bases, Baseline{Name: name, Value: b.med, Ratio: q.med,
			Spread: &Spread{Min: b.min, Max: b.max}, RatioSpread: &Spread{Min: q.min, Max: q.max}})
	}
	met := true
	if check != nil {
		met = check(v.med)
	}
	note += cpuNote(names, m.cpuPer)
	return Result{Scenario: scenario, Metric: metric, Unit: unit, Value: v.med, Baselines: bases,
		Target: target, Met: met, Note: note, Rounds: len(m.rates[0]), Spread: &Spread{Min: v.min, Max: v.max}}
}

// latencyContender is one side of an interleaved latency comparison: the scenario itself
// (first) or a baseline. run measures once, with the size fixed before the rounds, and
// returns the samples in nanoseconds.
type latencyContender struct {
	name string
	run  func() ([]int64, error)
}

// latencyRounds is what latencyRounds measured: the p50 and p99 (µs) of every contender per
// round, and the number of samples of each contender's last round.
type latencyRounded struct {
	p50, p99 [][]float64 // [contender][round]
	samples  []int
}

// latencyRounds runs the contenders in Config.Rounds rounds, each round running every
// contender once in turn, so that a change of load hits the scenario and its baselines alike.
func (e *env) latencyRounds(ctx context.Context, scenario string, cs []latencyContender) (latencyRounded, error) {
	rounds := e.cfg.Rounds
	out := latencyRounded{p50: make([][]float64, len(cs)), p99: make([][]float64, len(cs)), samples: make([]int, len(cs))}
	for r := range rounds {
		for i, c := range cs {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			samples, err := c.run()
			if err != nil {
				return out, fmt.Errorf("%s: round %d: %w", c.name, r+1, err)
			}
			if len(samples) == 0 {
				return out, fmt.Errorf("%s: round %d: no samples", c.name, r+1)
			}
			p50, p99 := percentiles(samples)
			out.p50[i] = append(out.p50[i], p50)
			out.p99[i] = append(out.p99[i], p99)
			out.samples[i] = len(samples)
			e.progress("%s: round %d/%d: %s: %d samples, p50 %.1f µs, p99 %.1f µs", scenario, r+1, rounds, c.name, len(samples), p50, p99)
		}
	}
	return out, nil
}

// latencyRoundsResults builds the p50 and p99 Results of interleaved latency rounds: each
// value is the median over the rounds of the first contender's percentile, each baseline's
// value its median, and each ratio the median of the per-round ratios, with their ranges.
func latencyRoundsResults(scenario, note string, names []string, m latencyRounded, t50, t99 target) []Result {
	var out []Result
	for _, q := range []struct {
		metric string
		v      [][]float64
		t      target
	}{{"p50", m.p50, t50}, {"p99", m.p99, t99}} {
		r := roundsResult(scenario, q.metric, "µs", q.t.text, q.t.check, note, names, interleaved{rates: q.v})
		out = append(out, r)
	}
	return out
}

// cpuNote describes the process CPU time per unit of every contender (medians over the
// rounds) and the ratio baseline ÷ scenario: a figure that, unlike the rates, does not move
// with the share of the CPU the process gets on a loaded machine. Empty when not measured.
func cpuNote(names []string, cpuPer [][]float64) string {
	if len(cpuPer) != len(names)+1 || len(cpuPer[0]) == 0 {
		return ""
	}
	own := spreadOf(cpuPer[0]).med
	if own <= 0 {
		return ""
	}
	out := fmt.Sprintf("; process CPU per unit (medians): %s ns", nsFigure(own))
	for i, name := range names {
		b := spreadOf(cpuPer[i+1]).med
		out += fmt.Sprintf(", %s %s ns (CPU ratio %.3g)", name, nsFigure(b), b/own)
	}
	return out
}

// nsFigure formats a time in ns with three significant digits, without an exponent.
func nsFigure(ns float64) string {
	if ns >= 100 {
		return fmt.Sprintf("%.0f", ns)
	}
	return fmt.Sprintf("%.3g", ns)
}
