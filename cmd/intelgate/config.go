package main

import "github.com/spf13/cobra"

// TODO: implement.
func newConfigCmd() *cobra.Command {
	return &cobra.Command{Use: "config"}
}
