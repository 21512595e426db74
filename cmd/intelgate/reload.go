package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
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
	base, token := strings.TrimRight(getenv("INTELGATE_URL"), "/"), getenv("INTELGATE_TOKEN")
	switch {
	case base == "":
		return fail(stderr, "INTELGATE_URL is not set: export the gateway's base URL")
	case token == "":
		return fail(stderr, "INTELGATE_TOKEN is not set: export an admin client's gateway token")
	case timeout <= 0:
		return fail(stderr, fmt.Sprintf("--timeout %s: must be greater than 0", timeout))
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fail(stderr, "INTELGATE_URL: must be an absolute http:// or https:// URL")
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/admin/v1/reload", strings.NewReader("{}"))
	if err != nil {
		return fail(stderr, "INTELGATE_URL: "+err.Error())
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "intelgate-cli")
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12}}}
	resp, err := hc.Do(req)
	if err != nil {
		return fail(stderr, "reaching the gateway: "+err.Error())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fail(stderr, "reading the gateway's answer: "+err.Error())
	}
	if resp.StatusCode != http.StatusOK {
		var p struct{ Title, Detail string }
		if json.Unmarshal(body, &p) == nil && p.Title != "" {
			return fail(stderr, fmt.Sprintf("%s (%d): %s", p.Title, resp.StatusCode, p.Detail))
		}
		return fail(stderr, fmt.Sprintf("the gateway answered %d", resp.StatusCode))
	}
	var rep map[string]any
	if err := json.Unmarshal(body, &rep); err != nil {
		return fail(stderr, "the gateway's answer is not JSON")
	}
	return printJSON(cmd.OutOrStdout(), json.RawMessage(body))
}
