package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/intelgate/intelgate/internal/buildinfo"
)

// exitCodeError ends the process with code after the command has already
// printed what went wrong.
type exitCodeError struct{ code int }

func (e exitCodeError) Error() string { return "exit status" }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "intelgate",
		Short:         "A self-hosted gateway in front of threat-intelligence APIs",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildinfo.Read().String(), // enables --version
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.AddCommand(
		newVersionCmd(),
		newServeCmd(),
		newDemoCmd(),
		newSimCmd(),
		newConfigCmd(),
		newTokenCmd(),
		newLookupCmd(),
		newJobsCmd(),
		newPinCmd(),
		newCacheCmd(),
		newAuditCmd(),
		newReloadCmd(),
	)
	return root
}

// missingSubcommand makes a parent command without its subcommand fail
// (exit 1) instead of printing help and succeeding.
func missingSubcommand(cmd *cobra.Command, _ []string) error {
	return fmt.Errorf("%s needs a subcommand (see %s --help)", cmd.CommandPath(), cmd.CommandPath())
}
