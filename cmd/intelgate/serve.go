package main

import "github.com/spf13/cobra"

// TODO: implement.
func newServeCmd() *cobra.Command {
	return &cobra.Command{Use: "serve"}
}
