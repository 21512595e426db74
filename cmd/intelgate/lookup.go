package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/intelgate/intelgate/client"
)

// lookupFlags are the options of `intelgate lookup`.
type lookupFlags struct {
	typ       string
	providers []string
	json      bool
	resolve   bool
	timeout   time.Duration
}

func newLookupCmd() *cobra.Command { return lookupCommand(os.Getenv) }

// lookupCommand takes the environment as a function so tests can run the
// command in-process, in parallel, without touching the real environment.
func lookupCommand(getenv func(string) string) *cobra.Command {
	var f lookupFlags
	cmd := &cobra.Command{
		Use:   "lookup INDICATOR",
		Short: "Look an indicator up through a running gateway",
		Long: `Look an indicator up through a running intelgate gateway, using the Go SDK.

The gateway and the token come from the environment, never from flags, so the
token does not land in shell history or process listings:

  INTELGATE_URL    the gateway's base URL, e.g. https://intelgate.internal:8443
  INTELGATE_TOKEN  this client's gateway token (igt_…)

"intelgate demo" writes both to DIR/demo.env. Without --resolve the command
prints one row per provider; --json prints the gateway's JSON instead. With
--resolve it calls the SocialEye drop-in endpoint /v1/resolve and prints the
upstream's JSON object.

Exit status: 0 when every provider answered (ok or not found), 2 when some
provider failed (the output still shows the others), 1 on any other error.`,
		Example: `  intelgate lookup 8.8.8.8
  intelgate lookup 'hxxp://evil[.]example/x' --providers socialeye --json
  intelgate lookup alice@example.com --type email --resolve`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLookup(cmd, getenv, args[0], f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.typ, "type", "", "indicator type (ipv4, domain, url, email, sha256, …); default: detected by the gateway")
	fl.StringSliceVar(&f.providers, "providers", nil, "comma-separated providers to ask; default: all permitted")
	fl.BoolVar(&f.json, "json", false, "print the gateway's JSON response instead of a table")
	fl.BoolVar(&f.resolve, "resolve", false, "call /v1/resolve (the SocialEye drop-in) instead of /v1/lookup")
	fl.DurationVar(&f.timeout, "timeout", 2*time.Minute, "give up after this long, retries included")
	return cmd
}

func runLookup(cmd *cobra.Command, getenv func(string) string, indicator string, f lookupFlags) error {
	stderr := cmd.ErrOrStderr()
	baseURL, token := getenv("INTELGATE_URL"), getenv("INTELGATE_TOKEN")
	switch {
	case baseURL == "":
		return fail(stderr, "INTELGATE_URL is not set: export the gateway's base URL (intelgate demo writes it to DIR/demo.env)")
	case token == "":
		return fail(stderr, "INTELGATE_TOKEN is not set: export this client's gateway token (intelgate demo writes it to DIR/demo.env)")
	case f.resolve && len(f.providers) > 0:
		return fail(stderr, "--providers does not apply to --resolve, which always asks SocialEye")
	}
	c, err := client.New(baseURL, token, client.WithUserAgent("intelgate-cli"))
	switch {
	case errors.Is(err, client.ErrInvalidToken):
		return fail(stderr, "INTELGATE_TOKEN: "+err.Error())
	case err != nil:
		return fail(stderr, "INTELGATE_URL: "+err.Error())
	}
	if f.timeout <= 0 {
		return fail(stderr, fmt.Sprintf("--timeout %s: must be greater than 0", f.timeout))
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
	defer cancel()

	out := cmd.OutOrStdout()
	if f.resolve {
		res, err := c.Resolve(ctx, indicator, f.typ)
		if err != nil {
			return failErr(stderr, err)
		}
		if !f.json {
			fmt.Fprintf(stderr, "cache: %s, age %s, request %s\n", orDash(res.Cache), res.Age, orDash(res.RequestID))
		}
		return printJSON(out, res.Data)
	}

	res, err := c.Lookup(ctx, indicator, &client.LookupOptions{Type: f.typ, Providers: trimmed(f.providers)})
	if err != nil {
		return failErr(stderr, err)
	}
	if f.json {
		err = printJSON(out, res.Raw)
	} else {
		err = printLookupTable(out, res)
	}
	if err != nil {
		return err
	}
	return partialFailure(stderr, res)
}

// partialFailure makes a lookup in which any provider failed exit 2, so a
// script can tell "some answers missing" (2) from "no answer at all" (1)
// and from success (0); the output above still holds what did answer.
func partialFailure(stderr io.Writer, res *client.LookupResponse) error {
	failed := 0
	for _, r := range res.Results {
		if r.Status == client.StatusError {
			failed++
		}
	}
	if failed == 0 {
		return nil
	}
	fmt.Fprintf(stderr, "%d of %d providers failed\n", failed, len(res.Results))
	return exitCodeError{code: 2}
}

// printLookupTable shows one row per provider. Every string from the gateway
// goes through safe, so a hostile upstream cannot drive the terminal.
func printLookupTable(w io.Writer, res *client.LookupResponse) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "indicator\t%s\n", safe(res.Indicator))
	fmt.Fprintf(tw, "type\t%s\n", safe(res.Type))
	fmt.Fprintf(tw, "normalized\t%s\n", safe(res.Normalized))
	fmt.Fprintf(tw, "request\t%s\n\n", orDash(safe(res.RequestID)))
	if err := tw.Flush(); err != nil {
		return err
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROVIDER\tSTATUS\tCACHED\tFETCHED\tDETAIL")
	for _, r := range res.Results {
		fetched := "-"
		if r.FetchedAt != nil {
			fetched = r.FetchedAt.UTC().Format(time.RFC3339)
		}
		detail := ""
		if r.Error != nil {
			detail = safe(r.Error.Title)
			if r.Error.Detail != "" {
				detail += ": " + safe(r.Error.Detail)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", safe(r.Provider), safe(r.Status), cachedLabel(r), fetched, detail)
	}
	if len(res.Results) == 0 {
		fmt.Fprintln(tw, "(no provider answered)")
	}
	return tw.Flush()
}

func cachedLabel(r client.Result) string {
	switch {
	case r.Stale:
		return "stale"
	case r.Cached:
		return "yes"
	}
	return "no"
}

// printJSON indents the gateway's JSON; it was validated by the SDK, and
// JSON escapes control characters, so it is printed as is.
func printJSON(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("formatting response: %w", err)
	}
	buf.WriteByte('\n')
	_, err := buf.WriteTo(w)
	return err
}

// failErr prints err for a human: problem details as
// "error: <title>: <detail> (request <id>)", anything else as is. The SDK's
// errors never contain the token.
func failErr(w io.Writer, err error) error {
	var e *client.Error
	if !errors.As(err, &e) {
		return fail(w, err.Error())
	}
	msg := safe(e.Title)
	if e.Detail != "" {
		msg += ": " + safe(e.Detail)
	}
	if e.RequestID != "" {
		msg += " (request " + safe(e.RequestID) + ")"
	}
	return fail(w, msg)
}

func fail(w io.Writer, msg string) error {
	fmt.Fprintln(w, "error: "+safe(msg))
	return exitCodeError{code: 1}
}

// safe replaces control characters (escape sequences included) in text that
// came from the network.
func safe(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// trimmed drops blanks from a --providers list ("a, b," → [a b]).
func trimmed(list []string) []string {
	var out []string
	for _, p := range list {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
