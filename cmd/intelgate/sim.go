package main

import "github.com/spf13/cobra"

// TODO: implement.
func newSimCmd() *cobra.Command {
	return &cobra.Command{Use: "sim"}
}
