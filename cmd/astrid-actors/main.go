// Command astrid-actors runs sandboxed WebAssembly capsules as supervised actors on a topic
// bus. Run "astrid-actors help" for the commands.
package main

import (
	"os"

	"github.com/astrid-actors/astrid-actors/internal/bench"
)

// Exit codes of the command.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == bench.ClusterNodeCommand {
		// Hidden: a child node of `bench --scenario cluster`.
		os.Exit(bench.RunClusterNode(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == bench.PressureChildCommand {
		os.Exit(bench.RunPressureChild(os.Args[2:])) // hidden: a process of bench --pressure
	}
	os.Exit(run(os.Args[1:]))
}

// run executes the command line and returns the process exit code.
func run(args []string) int {
	cmd := newRootCommand()
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		stderr := &lineWriter{w: os.Stderr}
		if sub, _, ferr := cmd.Find(args); ferr == nil {
			if f := sub.Flags().Lookup("log-format"); f != nil && f.Value.String() == "json" {
				stderr.json = true // with --log-format json every stderr line is JSON
			}
		}
		stderr.errorf("%v", err)
		if isUsageError(err) {
			return exitUsage
		}
		return exitFailure
	}
	return exitOK
}
