package bench

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// ScenarioBatch is the publish-batch scenario: one benchbatch capsule publishing with
// publish-batch (astrid:ipc@1.1.0) → one benchsink capsule, against plain protoactor-go,
// the single-publish capsules (benchpub) and the bus alone in the same rounds.
const ScenarioBatch = "batch"

// DefaultBatchRecords is the default of Config.BatchRecords.
const DefaultBatchRecords = 64

// batchTargetRatio is the target of the batch scenario: at least this fraction of plain
// protoactor-go (2 actors) in the same rounds.
const batchTargetRatio = 0.4

func runBatch(ctx context.Context, e *env) (_ []Result, err error) {
	pl := payload(e.cfg.PayloadBytes)
	chunk := sinkChunk(len(pl))
	batch, err := e.startPubSub(ctx, 1, chunk, pl, wasmBatch, map[string]string{"batch": strconv.Itoa(e.cfg.BatchRecords)})
	if err != nil {
		return nil, err
	}
	var stops []func()
	rigs := []*rig{batch.g}
	defer func() {
		for _, stop := range stops {
			stop()
		}
		for _, g := range rigs {
			if cerr := g.close(); err == nil {
				err = cerr
			}
		}
	}()
	single, err := e.startPubSub(ctx, 1, chunk, pl, wasmPub, nil)
	if err != nil {
		return nil, fmt.Errorf("baseline single-publish capsules: %w", err)
	}
	rigs = append(rigs, single.g)
	capsules := func(ps *pubSubCapsules) func(int) (time.Duration, uint64, error) {
		return func(n int) (time.Duration, uint64, error) { return ps.run(ctx, n) }
	}
	goRun := func(f func(int) (time.Duration, error)) func(int) (time.Duration, uint64, error) {
		return func(n int) (time.Duration, uint64, error) {
			el, err := f(n)
			return el, 0, err
		}
	}
	proto, stop, err := protoactorFanout(ctx, 1, pl)
	if err != nil {
		return nil, fmt.Errorf("baseline protoactor: %w", err)
	}
	stops = append(stops, stop)
	alone, stop, err := busAlone(ctx, 1, pl)
	if err != nil {
		return nil, fmt.Errorf("baseline bus alone: %w", err)
	}
	stops = append(stops, stop)
	names := []string{"protoactor 2 actors", "capsules, single publish", "bus alone (Go)"}
	cs := []contender{
		{name: "capsules, publish-batch", n0: chunk, step: chunk, per: 1, run: capsules(batch)},
		{name: names[0], n0: 1000, step: 1, per: 1, run: goRun(proto)},
		{name: names[1], n0: chunk, step: chunk, per: 1, run: capsules(single)},
		{name: names[2], n0: 1000, step: 1, per: 1, run: goRun(alone)},
	}
	m, err := e.rounds(ctx, ScenarioBatch, cs)
	if err != nil {
		return nil, err
	}
	dropped := m.dropped[0] + m.dropped[2]
	note := fmt.Sprintf("%d rounds of %d messages of %d bytes, publish-batch calls of %d records, 1 subscriber capsule (benchsink recv batches; last %v), each round followed by the baselines; %s",
		e.cfg.Rounds, m.n[0], len(pl), e.cfg.BatchRecords, m.elapsed[0].Round(time.Millisecond), dropNote(dropped))
	if extra := capsuleDrops(append(batch.sinks, single.sinks...)...); extra > dropped {
		note += fmt.Sprintf("; capsule status reports %d dropped or discarded", extra)
	}
	r := roundsResult(ScenarioBatch, "throughput 1→1", "msg/s", "", nil, note, names, m)
	r.Target = fmt.Sprintf("≥ %.1f× %s", batchTargetRatio, names[0])
	r.Met = r.Baselines[0].Ratio >= batchTargetRatio
	e.progress("%s: %.0f msg/s, %.2f× %s", ScenarioBatch, r.Value, r.Baselines[0].Ratio, names[0])
	return []Result{r}, nil
}
