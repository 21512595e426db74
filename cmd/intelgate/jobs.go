package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/intelgate/intelgate/client"
)

// jobsDeps are what the jobs commands take from the process, as values so
// tests can run them in-process, in parallel.
type jobsDeps struct {
	getenv func(string) string
	// terminal reports whether w is a terminal, where progress is a bar;
	// anywhere else it is plain lines.
	terminal func(w io.Writer) bool
}

func newJobsCmd() *cobra.Command {
	return jobsCommand(jobsDeps{getenv: os.Getenv, terminal: isTerminal})
}

// jobsCommand is `intelgate jobs`: a parent of one subcommand per
// operation on the gateway's bulk jobs.
func jobsCommand(d jobsDeps) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "Submit bulk lookups to a running gateway and read their results",
		Long: `Submit bulk lookups to a running intelgate gateway and read their results,
using the Go SDK.

The gateway and the token come from the environment, never from flags, so the
token does not land in shell history or process listings:

  INTELGATE_URL    the gateway's base URL, e.g. https://intelgate.internal:8443
  INTELGATE_TOKEN  this client's gateway token (igt_…)`,
		Args: cobra.NoArgs,
		RunE: missingSubcommand,
	}
	cmd.AddCommand(jobsSubmitCmd(d), jobsStatusCmd(d), jobsResultsCmd(d), jobsDLQCmd(d))
	return cmd
}

// jobsSubmitFlags are the options of `intelgate jobs submit`.
type jobsSubmitFlags struct {
	typ, tlp, pap, callbackURL, idempotencyKey string
	providers                                  []string
	wait                                       bool
	interval, timeout                          time.Duration
}

func jobsSubmitCmd(d jobsDeps) *cobra.Command {
	var f jobsSubmitFlags
	cmd := &cobra.Command{
		Use:   "submit FILE",
		Short: "Submit the indicators in FILE (one a line; - for stdin) as one job",
		Long: `Submit the indicators in FILE, one a line (blank lines are skipped), as one
bulk job, and print its id. FILE - reads stdin.

Every submission carries an Idempotency-Key: --idempotency-key, or one made for
this run, so the SDK's retries never create a second job. Pass your own (e.g.
the batch's name) to make running the same command again idempotent too: the
gateway then answers with the job the first run created.

--wait polls the job until every item is final, showing progress on stderr (a
bar on a terminal, plain lines otherwise), then prints its summary. Exit
status: 0, or 2 when some items failed or are dead (the summary still prints),
or 1 on any other error.`,
		Example: `  intelgate jobs submit iocs.txt --type domain --providers socialeye --wait
  grep -v '^#' feed.txt | intelgate jobs submit - --tlp amber+strict --idempotency-key feed-2026-12-02`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runJobsSubmit(cmd, d, args[0], f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.typ, "type", "", "type of every indicator (ipv4, domain, url, email, sha256, …); default: detected per item")
	fl.StringSliceVar(&f.providers, "providers", nil, "comma-separated providers to ask; default: all permitted")
	fl.StringVar(&f.tlp, "tlp", "", "TLP 2.0 marking of every item (clear, green, amber, amber+strict, red); default: the client's")
	fl.StringVar(&f.pap, "pap", "", "PAP marking of every item (clear, green, amber, red); default: the client's")
	fl.StringVar(&f.callbackURL, "callback-url", "", "URL the gateway calls (signed) when the job is done")
	fl.StringVar(&f.idempotencyKey, "idempotency-key", "", "key that makes resubmitting this job return it (1–255 printable ASCII); default: one per run")
	fl.BoolVar(&f.wait, "wait", false, "poll until the job is done, showing progress, then print its summary")
	fl.DurationVar(&f.interval, "interval", client.DefaultJobPollInterval, "with --wait: how often to ask")
	fl.DurationVar(&f.timeout, "timeout", 2*time.Minute, "give up on the submission after this long, retries included (--wait waits until done or interrupted)")
	return cmd
}

func runJobsSubmit(cmd *cobra.Command, d jobsDeps, file string, f jobsSubmitFlags) error {
	stderr := cmd.ErrOrStderr()
	c, err := jobsClient(stderr, d.getenv)
	if err != nil {
		return err
	}
	switch {
	case f.timeout <= 0:
		return fail(stderr, fmt.Sprintf("--timeout %s: must be greater than 0", f.timeout))
	case f.wait && f.interval <= 0:
		return fail(stderr, fmt.Sprintf("--interval %s: must be greater than 0", f.interval))
	}
	inds, err := readIndicators(cmd.InOrStdin(), file)
	if err != nil {
		return fail(stderr, err.Error())
	}
	opts := client.JobOptions{Type: f.typ, Providers: trimmed(f.providers), TLP: f.tlp, PAP: f.pap,
		CallbackURL: f.callbackURL, IdempotencyKey: f.idempotencyKey}
	ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
	defer cancel()
	job, err := c.SubmitJob(ctx, inds, opts)
	if errors.Is(err, client.ErrInvalidIdempotencyKey) {
		return fail(stderr, "--idempotency-key: must be 1 to 255 printable ASCII characters without spaces")
	}
	if err != nil {
		return failJobErr(stderr, err, submitArgument(file))
	}
	out := cmd.OutOrStdout()
	fmt.Fprintln(out, safe(job.ID))
	if job.Replayed {
		fmt.Fprintf(stderr, "this Idempotency-Key was submitted before: job %s is the one it created, not a new job\n", safe(job.ID))
	}
	if !f.wait {
		return nil
	}
	p := newProgress(stderr, d.terminal(stderr))
	done, err := c.WaitJob(cmd.Context(), job.ID, f.interval, p.update)
	p.finish()
	if errors.Is(err, context.Canceled) {
		return fail(stderr, fmt.Sprintf("stopped waiting; job %s runs on at the gateway (intelgate jobs status %[1]s)", job.ID))
	}
	if err != nil {
		return failJobErr(stderr, err, nil)
	}
	if err := printJobSummary(out, done); err != nil {
		return err
	}
	if bad := done.Counts.Failed + done.Counts.Dead; bad > 0 {
		fmt.Fprintf(stderr, "%d of %d items failed or are dead (intelgate jobs results %s)\n", bad, done.Total, safe(done.ID))
		return exitCodeError{code: 2}
	}
	return nil
}

// readIndicators reads one indicator a line from file ("-": stdin),
// trimmed, blank lines skipped. Its errors name the argument.
func readIndicators(stdin io.Reader, file string) ([]string, error) {
	name := "FILE " + file
	r := stdin
	if file == "-" {
		name = "FILE - (stdin)"
	} else {
		fh, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, unwrapPath(err))
		}
		defer fh.Close()
		r = fh
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var out []string
	for n := 1; sc.Scan(); n++ {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			out = append(out, line)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s: a line is longer than 1 MiB; it must hold one indicator per line", name)
		}
		return nil, fmt.Errorf("%s: %w", name, unwrapPath(err))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no indicators; it must hold one indicator per line", name)
	}
	return out, nil
}

// unwrapPath drops the path an *fs.PathError repeats: the message names
// the argument already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// submitArgument names the flag or argument a refused submission is
// about, from the problem's parameter or type.
func submitArgument(file string) func(*client.Error) string {
	return func(e *client.Error) string {
		switch e.Parameter {
		case "type":
			return "--type"
		case "providers":
			return "--providers"
		case "tlp", "X-Intelgate-TLP":
			return "--tlp"
		case "pap", "X-Intelgate-PAP":
			return "--pap"
		case "callback_url":
			return "--callback-url"
		case "Idempotency-Key":
			return "--idempotency-key"
		case "body", "indicators":
			return "FILE " + file
		}
		switch e.Slug() {
		case "unknown-provider", "forbidden", "unsupported-type":
			return "--providers"
		case "too-many-items", "request-too-large":
			return "FILE " + file
		case "idempotency-key-reused":
			return "--idempotency-key"
		}
		return ""
	}
}

func jobsStatusCmd(d jobsDeps) *cobra.Command {
	var asJSON bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "status ID",
		Short: "Show a job's status: its items by state",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			stderr := cmd.ErrOrStderr()
			c, err := jobsClient(stderr, d.getenv)
			if err != nil {
				return err
			}
			if timeout <= 0 {
				return fail(stderr, fmt.Sprintf("--timeout %s: must be greater than 0", timeout))
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			j, err := c.Job(ctx, args[0])
			if err != nil {
				return failJobErr(stderr, err, jobIDArgument)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), j.Raw)
			}
			return printJobSummary(cmd.OutOrStdout(), j)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the gateway's JSON instead of a summary")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "give up after this long, retries included")
	return cmd
}

func jobsResultsCmd(d jobsDeps) *cobra.Command {
	var pageSize int
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "results ID",
		Short: "Print a job's results as NDJSON, every page",
		Long: `Print a job's results to stdout as NDJSON, as the gateway sends them: one line
per item and provider (an item no provider answered is one line with
"provider": null), in item order, every page. Items not final yet are lines in
state "queued"; wait for the job first (intelgate jobs submit --wait, or
intelgate jobs status).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			stderr := cmd.ErrOrStderr()
			c, err := jobsClient(stderr, d.getenv)
			if err != nil {
				return err
			}
			switch {
			case pageSize < 0:
				return fail(stderr, fmt.Sprintf("--page-size %d: must be 0 (the gateway's default) or more", pageSize))
			case timeout <= 0:
				return fail(stderr, fmt.Sprintf("--timeout %s: must be greater than 0", timeout))
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			out := bufio.NewWriter(cmd.OutOrStdout())
			for l, err := range c.JobResults(ctx, args[0], pageSize) {
				if err != nil {
					_ = out.Flush() // what was read stays printed
					return failJobErr(stderr, err, resultsArgument)
				}
				// The SDK decoded the line; JSON escapes control
				// characters, so it is printed as received.
				_, _ = out.Write(l.Raw)
				_ = out.WriteByte('\n')
			}
			return out.Flush()
		},
	}
	cmd.Flags().IntVar(&pageSize, "page-size", 0, "items per request (the gateway allows at most 1000); 0: the gateway's default")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "give up after this long, every page and its retries included")
	return cmd
}

func jobIDArgument(e *client.Error) string {
	if e.Slug() == "not-found" {
		return "ID"
	}
	return ""
}

func resultsArgument(e *client.Error) string {
	if e.Parameter == "limit" {
		return "--page-size"
	}
	return jobIDArgument(e)
}

// jobsClient is the SDK client of INTELGATE_URL and INTELGATE_TOKEN; its
// errors are printed already.
func jobsClient(stderr io.Writer, getenv func(string) string) (*client.Client, error) {
	baseURL, token := getenv("INTELGATE_URL"), getenv("INTELGATE_TOKEN")
	switch {
	case baseURL == "":
		return nil, fail(stderr, "INTELGATE_URL is not set: export the gateway's base URL (intelgate demo writes it to DIR/demo.env)")
	case token == "":
		return nil, fail(stderr, "INTELGATE_TOKEN is not set: export this client's gateway token (intelgate demo writes it to DIR/demo.env)")
	}
	c, err := client.New(baseURL, token, client.WithUserAgent("intelgate-cli"))
	switch {
	case errors.Is(err, client.ErrInvalidToken):
		return nil, fail(stderr, "INTELGATE_TOKEN: "+err.Error())
	case err != nil:
		return nil, fail(stderr, "INTELGATE_URL: "+err.Error())
	}
	return c, nil
}

// failJobErr is failErr naming the flag or argument the gateway refused,
// when argument knows it: "error: --tlp: <title>: <detail> (request <id>)".
func failJobErr(w io.Writer, err error, argument func(*client.Error) string) error {
	e, ok := client.AsError(err)
	if !ok || argument == nil {
		return failErr(w, err)
	}
	name := argument(e)
	if name == "" {
		return failErr(w, err)
	}
	msg := safe(e.Title)
	if d := strings.TrimPrefix(e.Detail, e.Parameter+": "); d != "" {
		msg += ": " + safe(d)
	}
	if e.RequestID != "" {
		msg += " (request " + safe(e.RequestID) + ")"
	}
	return fail(w, name+": "+msg)
}

// printJobSummary shows a job for people; strings from the gateway go
// through safe.
func printJobSummary(w io.Writer, j *client.Job) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	c := j.Counts
	providers := "all permitted"
	if len(j.Providers) > 0 {
		providers = strings.Join(j.Providers, ",")
	}
	finished := "-"
	if j.FinishedAt != nil {
		finished = j.FinishedAt.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(tw, "job\t%s\n", safe(j.ID))
	fmt.Fprintf(tw, "status\t%s\n", safe(j.Status))
	fmt.Fprintf(tw, "items\t%d: %d done, %d failed, %d dead, %d withheld, %d queued (%d running)\n",
		j.Total, c.Done, c.Failed, c.Dead, c.Withheld, c.Queued, c.Running)
	fmt.Fprintf(tw, "type\t%s\n", orDash(safe(j.Type)))
	fmt.Fprintf(tw, "providers\t%s\n", safe(providers))
	fmt.Fprintf(tw, "tlp\t%s\n", orDash(safe(j.TLP)))
	fmt.Fprintf(tw, "pap\t%s\n", orDash(safe(j.PAP)))
	fmt.Fprintf(tw, "callback\t%s\n", callbackLabel(j))
	fmt.Fprintf(tw, "created\t%s\n", j.CreatedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "finished\t%s\n", finished)
	fmt.Fprintf(tw, "results\tintelgate jobs results %s\n", safe(j.ID))
	return tw.Flush()
}

// callbackLabel is the callback URL and, once the job is done, how its
// delivery went.
func callbackLabel(j *client.Job) string {
	if j.CallbackURL == "" {
		return "-"
	}
	s := safe(j.CallbackURL)
	if cb := j.Callback; cb != nil {
		s += fmt.Sprintf(" (%s, %d attempt(s)", safe(cb.State), cb.Attempts)
		if cb.LastError != "" {
			s += ", last error " + safe(cb.LastError)
		}
		s += ")"
	}
	return s
}

// progress shows a job's progress while --wait polls it.
type progress interface {
	update(*client.Job)
	finish()
}

func newProgress(w io.Writer, terminal bool) progress {
	if terminal {
		return &barProgress{w: w}
	}
	return &lineProgress{w: w}
}

// lineProgress prints one line each time the counts change: for logs and
// pipes, where a bar would be a stream of carriage returns.
type lineProgress struct {
	w    io.Writer
	last string
}

func (p *lineProgress) update(j *client.Job) {
	c := j.Counts
	line := fmt.Sprintf("%s: %s, %d/%d final (done %d, failed %d, dead %d, withheld %d; running %d)",
		safe(j.ID), safe(j.Status), j.Final(), j.Total, c.Done, c.Failed, c.Dead, c.Withheld, c.Running)
	if line != p.last {
		fmt.Fprintln(p.w, line)
		p.last = line
	}
}

func (p *lineProgress) finish() {}

// barProgress draws a bar of final items over the job's total.
type barProgress struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func (p *barProgress) update(j *client.Job) {
	if p.bar == nil {
		p.bar = progressbar.NewOptions(j.Total,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(safe(j.ID)),
			progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionSetRenderBlankState(true),
		)
	}
	_ = p.bar.Set(j.Final())
}

// finish ends the bar's line. It does not fill the bar: a wait that
// stopped early shows how far the job got.
func (p *barProgress) finish() {
	if p.bar != nil {
		fmt.Fprintln(p.w)
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
