package main

import "github.com/spf13/cobra"

// TODO: implement.
func newDemoCmd() *cobra.Command {
	return &cobra.Command{Use: "demo"}
}
