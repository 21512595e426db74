package main

import "github.com/spf13/cobra"

// TODO: implement.
func newLookupCmd() *cobra.Command {
	return &cobra.Command{Use: "lookup"}
}
