package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
)

func newReloadCmd() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "reload",
		Short: "Ask a running gateway to read its config file and every secret again",
		Long: "POST /admin/v1/reload on the gateway at INTELGATE_URL with the admin client's token in\n" +
			"INTELGATE_TOKEN (or send the serve process SIGHUP). The new configuration is applied whole\n" +
			"or refused whole, the running one kept; a refusal names each problem and exits 1.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReload(cmd, os.Getenv, timeout)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "give up after this long")
	return cmd
}

func runReload(cmd *cobra.Command, getenv func(string) string, timeout time.Duration) error {
	stderr := cmd.ErrOrStderr()
	if timeout <= 0 {
		return fail(stderr, fmt.Sprintf("--timeout %s: must be greater than 0", timeout))
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	body, err := adminCall(ctx, getenv, http.MethodPost, "/admin/v1/reload", "{}")
	if err != nil {
		return fail(stderr, err.Error())
	}
	return printJSON(cmd.OutOrStdout(), json.RawMessage(body))
}
