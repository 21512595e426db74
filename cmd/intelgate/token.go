package main

import "github.com/spf13/cobra"

// TODO: implement.
func newTokenCmd() *cobra.Command {
	return &cobra.Command{Use: "token"}
}
