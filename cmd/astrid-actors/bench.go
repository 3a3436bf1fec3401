package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/astrid-actors/astrid-actors/internal/bench"
)

type benchOptions struct {
	cache       cacheFlag
	duration    time.Duration
	rounds      int
	scenarios   []string
	payload     int
	subscribers int
	batch       int
	counts      []int
	json        bool
	quiet       bool
	cpuProfile  string
	pressure    string
}

func newBenchCommand() *cobra.Command {
	o := &benchOptions{}
	cmd := &cobra.Command{
		Use:   "bench [flags]",
		Short: "Measure the runtime against in-process baselines and print a table",
		Long: `Run the performance scenarios with bundled WASM capsules and, in the same process, the same
workload on baselines (the bus alone driven from Go, plain protoactor-go actors, Go channels,
bare wazero), then print each result with its baseline ratios and target.

Scenarios: pubsub (1 publisher capsule → 1 subscriber capsule), batch (the same with
publish-batch calls of --batch-records records, against protoactor-go 2 actors), fanout
(1 → N subscriber capsules), rtt (request/reply between two capsules), wake (publish→recv
latency at 10 000 msg/s), coldstart (load+instantiate+ready of 1, 100, 10 000 small
capsules, time and RSS per capsule), restart (trap → new instance ready), compute (a guest
loop instrumented with the countdown every capsule runs under, against the same loop with no
check and with wazero's loop check), kv
(durable kv calls), cluster (the other cluster nodes as child processes on loopback: remote
1→1 and 1→2 against the bus alone, round trip, node close, idle node goroutines and RSS).
Progress goes to stderr; the table (or --json) to stdout. Each round of an interleaved
scenario reports the process CPU time per message, which a loaded machine moves much less
than the rates. Machines are noisy: compare ratios, not absolute values.

--pressure cpu=N,mem=SIZE puts load beside the whole run: N child processes of this binary
each spinning on one CPU, and one holding SIZE bytes (K, M, G suffixes; at most 3/4 of the
machine's memory) and writing every page of it every 100 ms. They start before the first
scenario and are killed at the end, also on an error or Ctrl-C (and they exit by themselves
when the bench dies). Each result's note then names the pressure, the load average and the
major page faults of the scenario.`,
		Example: `  astrid-actors bench
  astrid-actors bench --scenario pubsub --scenario fanout --duration 5s --rounds 5
  astrid-actors bench --json > bench.json
  astrid-actors bench --scenario pubsub --pressure cpu=8,mem=4G --duration 3s`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	f := cmd.Flags()
	f.DurationVar(&o.duration, "duration", 2*time.Second, "how long each measurement runs")
	f.IntVar(&o.rounds, "rounds", bench.DefaultRounds, "interleaved rounds of pubsub, batch, fanout, rtt, wake, restart, compute, coldstart start time and cluster throughput (capsules, then each baseline, per round); medians and min–max reported")
	f.StringArrayVar(&o.scenarios, "scenario", nil, "scenario to run (repeatable; default all): "+joinNames(bench.Scenarios()))
	f.IntVar(&o.payload, "payload-bytes", 128, "JSON payload size of pubsub, fanout, rtt and wake messages")
	f.IntVar(&o.subscribers, "subscribers", 100, "subscriber capsules of the fanout scenario")
	f.IntVar(&o.batch, "batch-records", bench.DefaultBatchRecords, "records per publish-batch call of the batch scenario (1 to 1024)")
	f.IntSliceVar(&o.counts, "counts", bench.DefaultColdStartCounts(), "capsule counts of the coldstart scenario")
	f.BoolVar(&o.json, "json", false, "print the results as JSON")
	f.StringVar(&o.pressure, "pressure", "", "load beside the run: cpu=N busy processes, mem=SIZE held and touched (e.g. cpu=8,mem=4G)")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run (scenarios and baselines) to this file, for go tool pprof")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "no progress lines on stderr, only the results")
	o.cache.register(cmd)
	return cmd
}

func joinNames(names []string) string {
	out := ""
	for i, n := range names {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out
}

func (o *benchOptions) run(cmd *cobra.Command) error {
	for _, s := range o.scenarios {
		if !slices.Contains(bench.Scenarios(), s) {
			return usagef("--scenario %q: want one of %s", s, joinNames(bench.Scenarios()))
		}
	}
	if o.rounds <= 0 {
		return usagef("--rounds %d: must be positive", o.rounds)
	}
	if o.duration <= 0 {
		return usagef("--duration %v: must be positive", o.duration)
	}
	if o.payload <= 0 || o.subscribers <= 0 {
		return usagef("--payload-bytes and --subscribers must be positive")
	}
	if o.batch <= 0 || o.batch > 1024 {
		return usagef("--batch-records %d: want 1 to 1024", o.batch)
	}
	for _, n := range o.counts {
		if n <= 0 {
			return usagef("--counts: %d is not a positive count", n)
		}
	}
	pressure, err := bench.ParsePressure(o.pressure)
	if err != nil {
		return usagef("--pressure: %v", err)
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	progress := cmd.ErrOrStderr()
	if o.quiet {
		progress = io.Discard
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	exe, _ := os.Executable() // the cluster scenario's child nodes; it fails without
	results, err := bench.Run(ctx, bench.Config{
		Executable:      exe,
		Duration:        o.duration,
		Rounds:          o.rounds,
		Scenarios:       o.scenarios,
		PayloadBytes:    o.payload,
		Subscribers:     o.subscribers,
		BatchRecords:    o.batch,
		ColdStartCounts: o.counts,
		CacheDir:        o.cache.dir,
		Progress:        progress,
		Pressure:        pressure,
	})
	if err != nil {
		return err
	}
	if o.json {
		return bench.WriteJSON(cmd.OutOrStdout(), results)
	}
	return bench.WriteTable(cmd.OutOrStdout(), results)
}
