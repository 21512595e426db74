package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/intelgate/intelgate/internal/buildinfo"
)

// newVersionCmd prints the build `intelgate --version` prints too: module
// version, VCS revision and time, whether the tree was modified, and the Go
// version. Upstreams see the same version in the User-Agent.
func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the intelgate version and build details",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), buildinfo.Read())
			return err
		},
	}
}
