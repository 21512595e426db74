package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/client"
)

// jobJSON is a job as the gateway sends it.
func jobJSON(status string, c client.JobCounts) string {
	total := c.Queued + c.Done + c.Failed + c.Dead + c.Withheld
	finished := "null"
	if status == client.JobDone {
		finished = `"2026-11-27T10:00:09Z"`
	}
	return fmt.Sprintf(`{"id":"job_01","status":%q,"total":%d,"counts":{"queued":%d,"running":%d,"done":%d,"failed":%d,"dead":%d,"withheld":%d},`+
		`"type":"domain","providers":["socialeye"],"tlp":"amber","pap":"amber","created_at":"2026-11-27T10:00:00Z","finished_at":%s,`+
		`"results":"/v1/jobs/job_01/results","callback":null}`,
		status, total, c.Queued, c.Running, c.Done, c.Failed, c.Dead, c.Withheld, finished)
}

// fakeSubmission is one POST /v1/jobs as received.
type fakeSubmission struct {
	header http.Header
	body   jobSubmission
}

type jobSubmission struct {
	Indicators  []string `json:"indicators"`
	Type        string   `json:"type"`
	Providers   []string `json:"providers"`
	TLP         string   `json:"tlp"`
	PAP         string   `json:"pap"`
	CallbackURL string   `json:"callback_url"`
}

// fakeResultsPage is one page of GET /v1/jobs/{id}/results.
type fakeResultsPage struct{ body, next string }

// fakeJobsGateway answers the job endpoints: every submission with submit
// (a 202 and a queued job unless set), each status read with the next of
// statuses (the last repeating), and results by their "after" parameter.
// Anything it does not know is a 404 problem.
type fakeJobsGateway struct {
	t        *testing.T
	submit   *fakeGateway
	statuses []string
	pages    map[string]fakeResultsPage
	problem  *fakeGateway // when set, every status and results read answers with it

	mu          sync.Mutex
	submissions []fakeSubmission
	polls       int
	queries     []string // of the results reads
	requests    int
}

func (g *fakeJobsGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.requests++
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/jobs":
		var s jobSubmission
		if err := json.NewDecoder(r.Body).Decode(&s); err != nil {
			g.t.Errorf("decoding the submission: %v", err)
		}
		g.submissions = append(g.submissions, fakeSubmission{header: r.Header.Clone(), body: s})
		if g.submit != nil {
			g.submit.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, jobJSON(client.JobQueued, client.JobCounts{Queued: len(s.Indicators)}))
	case g.problem != nil && r.Method == http.MethodGet:
		g.problem.ServeHTTP(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/v1/jobs/job_01" && len(g.statuses) > 0:
		body := g.statuses[min(g.polls, len(g.statuses)-1)]
		g.polls++
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	case r.Method == http.MethodGet && r.URL.Path == "/v1/jobs/job_01/results":
		g.queries = append(g.queries, r.URL.RawQuery)
		p, ok := g.pages[r.URL.Query().Get("after")]
		if !ok {
			g.t.Errorf("no page after %q", r.URL.Query().Get("after"))
		}
		if p.next != "" {
			w.Header().Set("Link", fmt.Sprintf(`</v1/jobs/job_01/results?%s>; rel="next"`, p.next))
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		_, _ = io.WriteString(w, p.body)
	default:
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"type":"https://intelgate.dev/problems/not-found","title":"Not found","status":404,"detail":"no such job","request_id":"req-404"}`)
	}
}

func (g *fakeJobsGateway) requestCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.requests
}

func startJobsGateway(t *testing.T, g *fakeJobsGateway) map[string]string {
	t.Helper()
	g.t = t
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return map[string]string{"INTELGATE_URL": srv.URL, "INTELGATE_TOKEN": lookupTestToken}
}

// runJobsCmd runs `intelgate jobs ARGS…` in-process with env, stdin, and
// stderr a terminal or not.
func runJobsCmd(t *testing.T, env map[string]string, stdin string, terminal bool, args ...string) lookupRun {
	t.Helper()
	cmd := jobsCommand(jobsDeps{
		getenv:   func(k string) string { return env[k] },
		terminal: func(io.Writer) bool { return terminal },
	})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true // as under the root command
	var out, errOut bytes.Buffer
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	if args == nil {
		args = []string{} // nil would make cobra read the test binary's own arguments
	}
	cmd.SetArgs(args)
	// The deadline only bounds a broken gateway (a --wait that never ends).
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	r := lookupRun{stdout: out.String(), stderr: errOut.String(), err: err}
	require.NotContains(t, r.stdout+r.stderr, lookupTestToken, "token printed")
	if tok := env["INTELGATE_TOKEN"]; tok != "" {
		require.NotContains(t, r.stdout+r.stderr, tok, "token printed")
	}
	return r
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "iocs.txt")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestJobsSubmitFromFile(t *testing.T) {
	t.Parallel()
	g := &fakeJobsGateway{}
	env := startJobsGateway(t, g)
	file := writeFile(t, "203.0.113.7\n\n  evil.example  \r\n")

	r := runJobsCmd(t, env, "", false, "submit", file, "--type", "domain", "--providers", "socialeye, otx",
		"--tlp", "amber+strict", "--pap", "green", "--callback-url", "https://soar.example/cb", "--idempotency-key", "nightly-1")
	require.NoError(t, r.err, r.stderr)
	require.Equal(t, "job_01\n", r.stdout)
	require.Empty(t, r.stderr)
	require.Len(t, g.submissions, 1)
	s := g.submissions[0]
	require.Equal(t, jobSubmission{Indicators: []string{"203.0.113.7", "evil.example"}, Type: "domain",
		Providers: []string{"socialeye", "otx"}, TLP: "amber+strict", PAP: "green", CallbackURL: "https://soar.example/cb"}, s.body)
	require.Equal(t, "nightly-1", s.header.Get("Idempotency-Key"))
	require.Equal(t, "Bearer "+lookupTestToken, s.header.Get("Authorization"))
}

func TestJobsSubmitFromStdin(t *testing.T) {
	t.Parallel()
	g := &fakeJobsGateway{submit: &fakeGateway{status: http.StatusAccepted, contentType: "application/json",
		body: jobJSON(client.JobQueued, client.JobCounts{Queued: 2}), header: map[string]string{"Idempotent-Replayed": "true"}}}
	env := startJobsGateway(t, g)

	r := runJobsCmd(t, env, "a.example\nb.example\n", false, "submit", "-")
	require.NoError(t, r.err, r.stderr)
	require.Equal(t, "job_01\n", r.stdout)
	require.Equal(t, "this Idempotency-Key was submitted before: job job_01 is the one it created, not a new job\n", r.stderr)
	s := g.submissions[0]
	require.Equal(t, []string{"a.example", "b.example"}, s.body.Indicators)
	require.Empty(t, s.body.TLP, "unset flags are left to the gateway")
	require.True(t, strings.HasPrefix(s.header.Get("Idempotency-Key"), "sdk-"), "a key made for the run")
}

// --wait on a pipe or file: one plain line each time the counts change,
// then the summary; a failed item makes the exit status 2.
func TestJobsSubmitWaitPrintsPlainProgress(t *testing.T) {
	t.Parallel()
	g := &fakeJobsGateway{statuses: []string{
		jobJSON(client.JobQueued, client.JobCounts{Queued: 3}),
		jobJSON(client.JobQueued, client.JobCounts{Queued: 3}),
		jobJSON(client.JobRunning, client.JobCounts{Queued: 2, Running: 2, Done: 1}),
		jobJSON(client.JobDone, client.JobCounts{Done: 2, Failed: 1}),
	}}
	env := startJobsGateway(t, g)
	file := writeFile(t, "a.example\nb.example\nc.example\n")

	r := runJobsCmd(t, env, "", false, "submit", file, "--wait", "--interval", "1ms")
	require.Equal(t, exitCodeError{code: 2}, r.err, r.stderr)
	require.Equal(t, `job_01: queued, 0/3 final (done 0, failed 0, dead 0, withheld 0; running 0)
job_01: running, 1/3 final (done 1, failed 0, dead 0, withheld 0; running 2)
job_01: done, 3/3 final (done 2, failed 1, dead 0, withheld 0; running 0)
1 of 3 items failed or are dead (intelgate jobs results job_01)
`, r.stderr)
	require.Equal(t, `job_01
job        job_01
status     done
items      3: 2 done, 1 failed, 0 dead, 0 withheld, 0 queued (0 running)
type       domain
providers  socialeye
tlp        amber
pap        amber
callback   -
created    2026-11-27T10:00:00Z
finished   2026-11-27T10:00:09Z
results    intelgate jobs results job_01
`, r.stdout)
	require.Equal(t, 4, g.polls)
}

func TestJobsSubmitWaitDrawsABarOnATerminal(t *testing.T) {
	t.Parallel()
	g := &fakeJobsGateway{statuses: []string{
		jobJSON(client.JobRunning, client.JobCounts{Queued: 1, Done: 1}),
		jobJSON(client.JobDone, client.JobCounts{Done: 2}),
	}}
	env := startJobsGateway(t, g)
	r := runJobsCmd(t, env, "", true, "submit", writeFile(t, "a.example\nb.example\n"), "--wait", "--interval", "1ms")
	require.NoError(t, r.err, r.stderr)
	require.Contains(t, r.stderr, "job_01")
	require.Contains(t, r.stderr, "(2/2")
	require.Contains(t, r.stderr, "\r", "a bar redrawn in place")
	require.NotContains(t, r.stderr, "final (done", "no plain lines on a terminal")
	require.True(t, strings.HasPrefix(r.stdout, "job_01\njob        job_01\n"), r.stdout)
}

func TestJobsStatus(t *testing.T) {
	t.Parallel()
	body := strings.Replace(jobJSON(client.JobDone, client.JobCounts{Done: 1, Withheld: 1}),
		`"callback":null`, `"callback_url":"https://soar.example/cb","callback":{"state":"failed","webhook_id":"msg_1","attempts":5,"last_attempt_at":"2026-11-27T10:05:00Z","last_error":"timeout"}`, 1)
	g := &fakeJobsGateway{statuses: []string{body}}
	env := startJobsGateway(t, g)

	r := runJobsCmd(t, env, "", false, "status", "job_01")
	require.NoError(t, r.err, r.stderr)
	require.Contains(t, r.stdout, "items      2: 1 done, 0 failed, 0 dead, 1 withheld, 0 queued (0 running)\n")
	require.Contains(t, r.stdout, "callback   https://soar.example/cb (failed, 5 attempt(s), last error timeout)\n")
	require.Empty(t, r.stderr)

	r = runJobsCmd(t, env, "", false, "status", "job_01", "--json")
	require.NoError(t, r.err, r.stderr)
	require.JSONEq(t, body, r.stdout)
}

func TestJobsResultsPrintsEveryPage(t *testing.T) {
	t.Parallel()
	line := func(item int, ind string) string {
		return fmt.Sprintf(`{"item":%d,"state":"done","indicator":%q,"type":"domain","normalized":%[2]q,"provider":"socialeye","status":"ok","cached":false,"stale":false,"fetched_at":"2026-11-27T10:00:01Z","data":{"seen":true},"error":null}`, item, ind)
	}
	failed := `{"item":3,"state":"failed","indicator":"x y","provider":null,"status":"error","cached":false,"stale":false,"fetched_at":null,"data":null,"error":{"type":"https://intelgate.dev/problems/invalid-parameter","title":"Invalid parameter","status":400,"detail":"indicator: not a known type"}}`
	g := &fakeJobsGateway{pages: map[string]fakeResultsPage{
		"":  {body: line(1, "a.example") + "\n" + line(2, "b.example") + "\n", next: "after=2&limit=2"},
		"2": {body: failed + "\n"},
	}}
	env := startJobsGateway(t, g)

	r := runJobsCmd(t, env, "", false, "results", "job_01", "--page-size", "2")
	require.NoError(t, r.err, r.stderr)
	require.Equal(t, line(1, "a.example")+"\n"+line(2, "b.example")+"\n"+failed+"\n", r.stdout)
	require.Equal(t, []string{"limit=2", "after=2&limit=2"}, g.queries)
	require.Empty(t, r.stderr)
}

func TestJobsBadInputExits1(t *testing.T) {
	t.Parallel()
	problem := func(status int, slug, title, detail, param string) *fakeGateway {
		p := map[string]any{"type": "https://intelgate.dev/problems/" + slug, "title": title, "status": status,
			"detail": detail, "request_id": "req-bad"}
		if param != "" {
			p["parameter"] = param
		}
		b, _ := json.Marshal(p)
		return &fakeGateway{status: status, contentType: "application/problem+json", body: string(b)}
	}
	dir := t.TempDir()
	empty := writeFile(t, "\n  \n")
	ok := writeFile(t, "a.example\n")
	missing := filepath.Join(dir, "missing.txt")

	tests := []struct {
		name     string
		g        *fakeJobsGateway
		stdin    string
		args     []string
		want     string
		requests int
	}{
		{name: "empty file", args: []string{"submit", empty},
			want: "error: FILE " + empty + ": no indicators; it must hold one indicator per line\n"},
		{name: "empty stdin", stdin: "\n\n", args: []string{"submit", "-"},
			want: "error: FILE - (stdin): no indicators; it must hold one indicator per line\n"},
		{name: "missing file", args: []string{"submit", missing},
			want: "error: FILE " + missing + ": no such file or directory\n"},
		{name: "a directory", args: []string{"submit", dir},
			want: "error: FILE " + dir + ": is a directory\n"},
		{name: "bad --idempotency-key", args: []string{"submit", ok, "--idempotency-key", "has space"},
			want: "error: --idempotency-key: must be 1 to 255 printable ASCII characters without spaces\n"},
		{name: "bad --interval", args: []string{"submit", ok, "--wait", "--interval", "0s"},
			want: "error: --interval 0s: must be greater than 0\n"},
		{name: "bad --tlp", g: &fakeJobsGateway{submit: problem(400, "invalid-parameter", "Invalid parameter",
			`tlp: unknown TLP "purple"`, "tlp")}, args: []string{"submit", ok, "--tlp", "purple"},
			want: "error: --tlp: Invalid parameter: unknown TLP \"purple\" (request req-bad)\n", requests: 1},
		{name: "unknown provider", g: &fakeJobsGateway{submit: problem(400, "unknown-provider", "Unknown provider",
			`no provider "vt" is configured`, "providers")}, args: []string{"submit", ok, "--providers", "vt"},
			want: "error: --providers: Unknown provider: no provider \"vt\" is configured (request req-bad)\n", requests: 1},
		{name: "too many items", g: &fakeJobsGateway{submit: problem(413, "too-many-items", "Too many items",
			"a job holds at most 3 indicators (jobs.max_items)", "")}, args: []string{"submit", ok},
			want: "error: FILE " + ok + ": Too many items: a job holds at most 3 indicators (jobs.max_items) (request req-bad)\n", requests: 1},
		{name: "key reused", g: &fakeJobsGateway{submit: problem(422, "idempotency-key-reused", "Idempotency key reused",
			"use a new key", "")}, args: []string{"submit", ok, "--idempotency-key", "k"},
			want: "error: --idempotency-key: Idempotency key reused: use a new key (request req-bad)\n", requests: 1},
		{name: "unknown job", args: []string{"status", "job_nope"},
			want: "error: ID: Not found: no such job (request req-404)\n", requests: 1},
		{name: "unknown job's results", args: []string{"results", "job_nope"},
			want: "error: ID: Not found: no such job (request req-404)\n", requests: 1},
		{name: "negative --page-size", args: []string{"results", "job_01", "--page-size", "-1"},
			want: "error: --page-size -1: must be 0 (the gateway's default) or more\n"},
		{name: "--page-size over the gateway's", g: &fakeJobsGateway{problem: problem(400, "invalid-parameter", "Invalid parameter",
			"limit: at most 1000 items per page", "limit")}, args: []string{"results", "job_01", "--page-size", "5000"},
			want: "error: --page-size: Invalid parameter: at most 1000 items per page (request req-bad)\n", requests: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := tt.g
			if g == nil {
				g = &fakeJobsGateway{}
			}
			r := runJobsCmd(t, startJobsGateway(t, g), tt.stdin, false, tt.args...)
			requireExit1(t, r.err)
			require.Equal(t, tt.want, r.stderr)
			require.Empty(t, r.stdout)
			require.Equal(t, tt.requests, g.requestCount())
		})
	}
}

func TestJobsUsageErrors(t *testing.T) {
	t.Parallel()
	env := map[string]string{"INTELGATE_TOKEN": lookupTestToken}
	r := runJobsCmd(t, env, "", false, "submit", "-")
	requireExit1(t, r.err)
	require.Contains(t, r.stderr, "error: INTELGATE_URL is not set")

	r = runJobsCmd(t, env, "", false)
	require.ErrorContains(t, r.err, "jobs needs a subcommand")
	for _, args := range [][]string{{"submit"}, {"status"}, {"results", "a", "b"}} {
		r = runJobsCmd(t, env, "", false, args...)
		require.ErrorContains(t, r.err, "arg", args)
	}

	root := newRootCmd()
	jobs, _, err := root.Find([]string{"jobs"})
	require.NoError(t, err)
	var subs []string
	for _, c := range jobs.Commands() {
		subs = append(subs, c.Name())
	}
	require.Subset(t, subs, []string{"submit", "status", "results"})
}

// The jobs commands against a real gateway (embedded SQLite, River, the
// simulator over pinned TLS): submit --wait, status --json and results
// through the SDK, and refusals naming their flag or argument.
func TestJobsAgainstARealGateway(t *testing.T) {
	t.Parallel()
	e := newCacheEnv(t)
	gw := e.startGateway(t, e.writeConfig(t))
	env := map[string]string{"INTELGATE_URL": gw.url, "INTELGATE_TOKEN": e.token}
	file := writeFile(t, "cli-1.example.org\ncli-2.example.org\nnot an indicator\n")

	r := runJobsCmd(t, env, "", false, "submit", file, "--providers", "socialeye", "--wait", "--interval", "50ms")
	require.Equal(t, exitCodeError{code: 2}, r.err, "one item failed: %s", r.stderr)
	id, summary, _ := strings.Cut(r.stdout, "\n")
	require.True(t, strings.HasPrefix(id, "job_"), r.stdout)
	require.Contains(t, summary, "status     done\n")
	require.Contains(t, summary, "items      3: 2 done, 1 failed, 0 dead, 0 withheld, 0 queued (0 running)\n")
	require.Contains(t, r.stderr, id+": done, 3/3 final (done 2, failed 1, dead 0, withheld 0; running 0)\n")
	require.Contains(t, r.stderr, "1 of 3 items failed or are dead")

	r = runJobsCmd(t, env, "", false, "status", id, "--json")
	require.NoError(t, r.err, r.stderr)
	var job client.Job
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &job), r.stdout)
	require.Equal(t, client.JobDone, job.Status)
	require.Equal(t, id, job.ID)

	r = runJobsCmd(t, env, "", false, "results", id, "--page-size", "2")
	require.NoError(t, r.err, r.stderr)
	var lines []client.JobResultLine
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		var l client.JobResultLine
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l), sc.Text())
		lines = append(lines, l)
	}
	require.Len(t, lines, 3)
	for i, l := range lines[:2] {
		require.Equal(t, i+1, l.Item)
		require.Equal(t, "socialeye", *l.Provider)
		require.Equal(t, client.StatusOK, l.Status)
	}
	require.Nil(t, lines[2].Provider)
	require.Equal(t, client.ItemFailed, lines[2].State)

	r = runJobsCmd(t, env, "", false, "submit", file, "--tlp", "purple")
	requireExit1(t, r.err)
	require.True(t, strings.HasPrefix(r.stderr, "error: --tlp: "), r.stderr)
	require.Empty(t, r.stdout)

	r = runJobsCmd(t, env, "", false, "submit", file, "--providers", "nope")
	requireExit1(t, r.err)
	require.True(t, strings.HasPrefix(r.stderr, "error: --providers: "), r.stderr)

	r = runJobsCmd(t, env, "", false, "status", "job_nope")
	requireExit1(t, r.err)
	require.True(t, strings.HasPrefix(r.stderr, "error: ID: "), r.stderr)
}
