package main

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/astrid-actors/astrid-actors/abi"
	"github.com/astrid-actors/astrid-actors/manifest"
)

// usageError marks errors caused by the command line itself (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func isUsageError(err error) bool {
	var u usageError
	return errors.As(err, &u)
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "astrid-actors",
		Short:         "Run sandboxed WebAssembly capsules as supervised actors on a topic bus",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newRunCommand(), newDemoCommand(), newValidateCommand(), newInspectCommand(), newBenchCommand(), newVersionCommand())
	// Unknown subcommands and bad arguments are usage errors.
	root.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageError{fmt.Errorf("unknown command %q (see astrid-actors help)", args[0])}
		}
		return nil
	}
	root.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	return root
}

// version is the module version, set by the Go toolchain for installed binaries.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, the capsule ABI version, the Astrid release it is compatible with and the Go version",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "astrid-actors %s (capsule ABI %s, Astrid %s manifests, %s %s/%s)\n",
				version(), abi.Version, manifest.AstridRelease, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
