package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

// dlqFilter is the flags that select dead items.
type dlqFilter struct {
	provider, errorKind, job, client string
}

func (f *dlqFilter) bind(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.provider, "provider", "", "only items whose failure came from this provider")
	fl.StringVar(&f.errorKind, "error", "", "only items that died of this failure (a problem slug, e.g. upstream-timeout)")
	fl.StringVar(&f.job, "job", "", "only items of this job")
	fl.StringVar(&f.client, "client", "", "only items of this client's jobs")
}

// jobsDLQCmd is `intelgate jobs dlq`: the dead-letter queue through the
// admin API (an admin client's token).
func jobsDLQCmd(d jobsDeps) *cobra.Command {
	var f dlqFilter
	var asJSON bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "dlq [--provider P] [--error KIND] [--job ID] [--client NAME]",
		Short: "List dead bulk items (needs an admin client's token); `dlq retry` puts them back",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stderr := cmd.ErrOrStderr()
			if timeout <= 0 {
				return fail(stderr, fmt.Sprintf("--timeout %s: must be greater than 0", timeout))
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			q := url.Values{}
			for k, v := range map[string]string{"provider": f.provider, "error": f.errorKind, "job": f.job, "client": f.client} {
				if v != "" {
					q.Set(k, v)
				}
			}
			q.Set("limit", "1000")
			out := cmd.OutOrStdout()
			total := 0
			for after := ""; ; {
				if after != "" {
					q.Set("after", after)
				}
				body, err := adminCall(ctx, d.getenv, http.MethodGet, "/admin/v1/dlq?"+q.Encode(), "")
				if err != nil {
					return fail(stderr, err.Error())
				}
				var page struct {
					Items []struct {
						ID, Job, Client, Provider, Error string
						Item, Attempts                   int
						DiedAt                           time.Time `json:"died_at"`
					}
					Next *string
				}
				if err := json.Unmarshal(body, &page); err != nil {
					return fail(stderr, "the gateway's answer is not a dead-letter page")
				}
				for _, it := range page.Items {
					total++
					if asJSON {
						b, _ := json.Marshal(it)
						_, _ = fmt.Fprintln(out, string(b))
						continue
					}
					_, _ = fmt.Fprintf(out, "%s\tclient=%s\tprovider=%s\terror=%s\tattempts=%d\tdied=%s\n", safe(it.ID), safe(it.Client),
						safe(it.Provider), safe(it.Error), it.Attempts, it.DiedAt.UTC().Format(time.RFC3339))
				}
				if page.Next == nil {
					break
				}
				after = *page.Next
			}
			if !asJSON {
				_, _ = fmt.Fprintf(stderr, "%d dead item(s)\n", total)
			}
			return nil
		},
	}
	f.bind(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per item")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "give up after this long")
	cmd.AddCommand(jobsDLQRetryCmd(d))
	return cmd
}

func jobsDLQRetryCmd(d jobsDeps) *cobra.Command {
	var f dlqFilter
	var all bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "retry ID | --all [--provider P] [--error KIND] [--job ID] [--client NAME]",
		Short: "Put a dead item (or every one matching) back in the queue",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			stderr := cmd.ErrOrStderr()
			switch {
			case timeout <= 0:
				return fail(stderr, fmt.Sprintf("--timeout %s: must be greater than 0", timeout))
			case all && len(args) == 1:
				return fail(stderr, "ID: give an item id or --all, not both")
			case !all && len(args) == 0:
				return fail(stderr, "ID: give a dead item's id (from `intelgate jobs dlq`) or --all")
			case !all && (f != dlqFilter{}):
				return fail(stderr, "--provider, --error, --job and --client select items for --all")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			if !all {
				if _, err := adminCall(ctx, d.getenv, http.MethodPost, "/admin/v1/dlq/"+url.PathEscape(args[0])+"/retry", "{}"); err != nil {
					return fail(stderr, "ID "+strconv.Quote(args[0])+": "+err.Error())
				}
				_, _ = fmt.Fprintf(cmd.OutOrStdout(), "%s queued again\n", args[0])
				return nil
			}
			filter, _ := json.Marshal(map[string]string{"provider": f.provider, "error": f.errorKind, "job": f.job, "client": f.client})
			total := 0
			for {
				body, err := adminCall(ctx, d.getenv, http.MethodPost, "/admin/v1/dlq/retry", string(filter))
				if err != nil {
					return fail(stderr, err.Error())
				}
				var r struct {
					Retried int
					More    bool
				}
				if err := json.Unmarshal(body, &r); err != nil {
					return fail(stderr, "the gateway's answer is not a retry report")
				}
				total += r.Retried
				if !r.More || r.Retried == 0 {
					break
				}
			}
			_, _ = fmt.Fprintf(cmd.OutOrStdout(), "%d dead item(s) queued again\n", total)
			return nil
		},
	}
	f.bind(cmd)
	cmd.Flags().BoolVar(&all, "all", false, "retry every dead item matching the filters")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "give up after this long")
	return cmd
}
