package main

import "github.com/spf13/cobra"

// TODO: implement.
func newPinCmd() *cobra.Command {
	return &cobra.Command{Use: "pin"}
}
