package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	jobQueuedBody = `{"id":"job_01","status":"queued","total":2,"counts":{"queued":2,"running":0,"done":0,"failed":0,"dead":0,"withheld":0},
"type":"auto","providers":["socialeye"],"tlp":"amber","pap":"green","created_at":"2026-11-27T10:00:00Z","finished_at":null,
"results":"/v1/jobs/job_01/results"}`
	jobDoneBody = `{"id":"job_01","status":"done","total":2,"counts":{"queued":0,"running":0,"done":1,"failed":1,"dead":0,"withheld":0},
"type":"auto","providers":[],"tlp":"amber","pap":"green","callback_url":"https://soar.example/cb","created_at":"2026-11-27T10:00:00Z",
"finished_at":"2026-11-27T10:00:09Z","results":"/v1/jobs/job_01/results",
"callback":{"state":"delivered","webhook_id":"msg_01","attempts":1,"last_attempt_at":"2026-11-27T10:00:10Z","last_status":204}}`
	problem413 = `{"type":"https://intelgate.dev/problems/too-many-items","title":"Too many items","status":413,"detail":"a job holds at most 3 indicators (jobs.max_items)","request_id":"req-413"}`
	problem422 = `{"type":"https://intelgate.dev/problems/idempotency-key-reused","title":"Idempotency key reused","status":422,"detail":"this Idempotency-Key was used for a different submission; use a new key","request_id":"req-422"}`
	problem404 = `{"type":"https://intelgate.dev/problems/not-found","title":"Not found","status":404,"detail":"no such job","request_id":"req-404"}`
)

// seen is one request as the fake gateway received it.
type seen struct {
	method, path, query string
	header              http.Header
	body                string
}

// jobGateway answers each request with the next step and records what it
// received, body included. A step with hangUp set closes the connection
// after reading the request, answering nothing.
type jobGateway struct {
	t     *testing.T
	steps []jobStep
	mu    sync.Mutex
	reqs  []seen
}

type jobStep struct {
	status      int
	contentType string
	header      map[string]string
	body        string
	hangUp      bool
}

func (g *jobGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		g.t.Errorf("reading the request body: %v", err)
	}
	g.mu.Lock()
	g.reqs = append(g.reqs, seen{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone(), string(b)})
	n := len(g.reqs)
	g.mu.Unlock()
	if n > len(g.steps) {
		g.t.Errorf("unexpected request %d: %s %s", n, r.Method, r.URL)
		w.WriteHeader(http.StatusTeapot)
		return
	}
	st := g.steps[n-1]
	if st.hangUp {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			g.t.Errorf("hijack: %v", err)
			return
		}
		_ = conn.Close()
		return
	}
	if st.contentType != "" {
		w.Header().Set("Content-Type", st.contentType)
	}
	for k, v := range st.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(st.status)
	_, _ = io.WriteString(w, st.body)
}

func (g *jobGateway) requests() []seen {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]seen(nil), g.reqs...)
}

func serveJobs(t *testing.T, steps ...jobStep) (*jobGateway, *httptest.Server) {
	t.Helper()
	g := &jobGateway{t: t, steps: steps}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return g, srv
}

func accepted(body string, header ...string) jobStep {
	h := map[string]string{"Location": "/v1/jobs/job_01", "X-Request-Id": "req-sub"}
	for i := 0; i+1 < len(header); i += 2 {
		h[header[i]] = header[i+1]
	}
	return jobStep{status: http.StatusAccepted, contentType: "application/json", header: h, body: body}
}

func problem(status int, body string) jobStep {
	return jobStep{status: status, contentType: "application/problem+json", body: body}
}

func TestSubmitJobSendsJSONWithAGeneratedKey(t *testing.T) {
	t.Parallel()
	g, srv := serveJobs(t, accepted(jobQueuedBody), accepted(jobQueuedBody))
	c, _ := newTestClient(t, srv.URL)

	j, err := c.SubmitJob(t.Context(), []string{"203.0.113.7", "evil.example"}, JobOptions{
		Type: "auto", Providers: []string{"socialeye"}, TLP: "amber", PAP: "green", CallbackURL: "https://soar.example/cb"})
	require.NoError(t, err)
	require.Equal(t, "job_01", j.ID)
	require.Equal(t, JobQueued, j.Status)
	require.Equal(t, 2, j.Total)
	require.Equal(t, JobCounts{Queued: 2}, j.Counts)
	require.Equal(t, []string{"socialeye"}, j.Providers)
	require.Nil(t, j.FinishedAt)
	require.False(t, j.Replayed)
	require.Equal(t, "req-sub", j.RequestID)
	require.JSONEq(t, jobQueuedBody, string(j.Raw))

	r := g.requests()[0]
	require.Equal(t, http.MethodPost, r.method)
	require.Equal(t, "/v1/jobs", r.path)
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	require.Equal(t, "Bearer "+testToken, r.header.Get("Authorization"))
	require.JSONEq(t, `{"indicators":["203.0.113.7","evil.example"],"type":"auto","providers":["socialeye"],
		"tlp":"amber","pap":"green","callback_url":"https://soar.example/cb"}`, r.body)
	key := r.header.Get("Idempotency-Key")
	require.True(t, strings.HasPrefix(key, "sdk-"), key)
	require.Equal(t, key, j.IdempotencyKey)

	// Each call has a key of its own: two calls are two jobs.
	_, err = c.SubmitJob(t.Context(), []string{"evil.example"}, JobOptions{})
	require.NoError(t, err)
	r2 := g.requests()[1]
	require.NotEqual(t, key, r2.header.Get("Idempotency-Key"))
	require.JSONEq(t, `{"indicators":["evil.example"]}`, r2.body, "unset options are left to the gateway")
}

// A submission is retried under the same key, so the gateway answers the
// resend with the job the first sending created — also when the connection
// broke after the request was sent.
func TestSubmitJobRetriesUnderTheSameKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		first jobStep
	}{
		{"503", jobStep{status: http.StatusServiceUnavailable, header: map[string]string{"Retry-After": "2"}}},
		{"connection closed after the request was sent", jobStep{hangUp: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g, srv := serveJobs(t, tt.first, accepted(jobQueuedBody, "Idempotent-Replayed", "true"))
			c, _ := newTestClient(t, srv.URL)
			j, err := c.SubmitJob(t.Context(), []string{"evil.example"}, JobOptions{IdempotencyKey: "nightly-2026-12-02"})
			require.NoError(t, err)
			require.True(t, j.Replayed)
			require.Equal(t, "nightly-2026-12-02", j.IdempotencyKey)
			reqs := g.requests()
			require.Len(t, reqs, 2)
			for _, r := range reqs {
				require.Equal(t, "nightly-2026-12-02", r.header.Get("Idempotency-Key"))
				require.JSONEq(t, `{"indicators":["evil.example"]}`, r.body)
			}
		})
	}
}

func TestSubmitJobProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		step   jobStep
		status int
		slug   string
	}{
		{problem(http.StatusRequestEntityTooLarge, problem413), 413, "too-many-items"},
		{problem(http.StatusUnprocessableEntity, problem422), 422, "idempotency-key-reused"},
	}
	for _, tt := range tests {
		t.Run(tt.slug, func(t *testing.T) {
			t.Parallel()
			g, srv := serveJobs(t, tt.step)
			c, _ := newTestClient(t, srv.URL)
			_, err := c.SubmitJob(t.Context(), []string{"a.example"}, JobOptions{})
			e, ok := AsError(err)
			require.True(t, ok, "want *Error, got %v", err)
			require.Equal(t, tt.status, e.Status)
			require.Equal(t, tt.slug, e.Slug())
			require.NotEmpty(t, e.RequestID)
			require.Len(t, g.requests(), 1, "not retried")
			require.NotContains(t, err.Error(), testToken)
		})
	}
}

func TestSubmitJobRefusesBadOptionsWithoutSending(t *testing.T) {
	t.Parallel()
	g, srv := serveJobs(t)
	c, _ := newTestClient(t, srv.URL)
	tests := []struct {
		name       string
		indicators []string
		opts       JobOptions
		want       string
	}{
		{"no indicators", nil, JobOptions{}, "no indicators"},
		{"key with a space", []string{"a"}, JobOptions{IdempotencyKey: "has space"}, "invalid IdempotencyKey: it must be printable ASCII"},
		{"key too long", []string{"a"}, JobOptions{IdempotencyKey: strings.Repeat("k", 256)}, "invalid IdempotencyKey: it must be 1 to 255"},
		{"provider with a comma", []string{"a"}, JobOptions{Providers: []string{"a,b"}}, "invalid provider name"},
	}
	for _, tt := range tests {
		_, err := c.SubmitJob(t.Context(), tt.indicators, tt.opts)
		require.ErrorContains(t, err, tt.want, tt.name)
		require.NotContains(t, err.Error(), "has space", "the key is not echoed")
	}
	_, err := c.SubmitJobNDJSON(t.Context(), strings.NewReader(`"a"`), JobOptions{IdempotencyKey: "has\x01control"})
	require.ErrorIs(t, err, ErrInvalidIdempotencyKey)
	require.Empty(t, g.requests())
}

func TestSubmitJobNDJSONStreamsTheReader(t *testing.T) {
	t.Parallel()
	const nd = "\"203.0.113.7\"\n{\"indicator\": \"evil.example\"}\n"
	g, srv := serveJobs(t, accepted(jobQueuedBody))
	c, _ := newTestClient(t, srv.URL)
	j, err := c.SubmitJobNDJSON(t.Context(), io.MultiReader(strings.NewReader(nd)), JobOptions{
		Type: "domain", Providers: []string{"socialeye", "otx"}, TLP: "red", PAP: "clear", CallbackURL: "https://soar.example/cb"})
	require.NoError(t, err)
	require.Equal(t, "job_01", j.ID)
	r := g.requests()[0]
	require.Equal(t, "application/x-ndjson", r.header.Get("Content-Type"))
	require.Equal(t, nd, r.body)
	require.Equal(t, "callback_url=https%3A%2F%2Fsoar.example%2Fcb&pap=clear&providers=socialeye%2Cotx&tlp=red&type=domain", r.query)
	require.NotEmpty(t, r.header.Get("Idempotency-Key"))
}

func TestSubmitJobNDJSONRetries(t *testing.T) {
	t.Parallel()
	const nd = "\"a.example\"\n\"b.example\"\n"
	busy := jobStep{status: http.StatusServiceUnavailable, header: map[string]string{"Retry-After": "1"}}

	t.Run("a seeker is rewound to where it was", func(t *testing.T) {
		t.Parallel()
		g, srv := serveJobs(t, busy, accepted(jobQueuedBody))
		c, _ := newTestClient(t, srv.URL)
		r := strings.NewReader("skipped\n" + nd)
		_, err := r.Seek(int64(len("skipped\n")), io.SeekStart)
		require.NoError(t, err)
		_, err = c.SubmitJobNDJSON(t.Context(), r, JobOptions{})
		require.NoError(t, err)
		reqs := g.requests()
		require.Len(t, reqs, 2)
		require.Equal(t, nd, reqs[0].body)
		require.Equal(t, nd, reqs[1].body)
		require.Equal(t, reqs[0].header.Get("Idempotency-Key"), reqs[1].header.Get("Idempotency-Key"))
	})

	t.Run("another reader, once sent, is not sent again", func(t *testing.T) {
		t.Parallel()
		g, srv := serveJobs(t, busy)
		c, _ := newTestClient(t, srv.URL)
		_, err := c.SubmitJobNDJSON(t.Context(), io.MultiReader(strings.NewReader(nd)), JobOptions{})
		require.ErrorIs(t, err, errBodyNotReplayable)
		e, ok := AsError(err)
		require.True(t, ok, "the answer that would have been retried is in the chain: %v", err)
		require.Equal(t, http.StatusServiceUnavailable, e.Status)
		require.Len(t, g.requests(), 1)
	})

	t.Run("another reader is sent again when none of it was read", func(t *testing.T) {
		t.Parallel()
		g, srv := serveJobs(t, accepted(jobQueuedBody))
		refuseOnce := &refusingTransport{base: http.DefaultTransport}
		c, _ := newTestClient(t, srv.URL, WithHTTPClient(&http.Client{Transport: refuseOnce}))
		_, err := c.SubmitJobNDJSON(t.Context(), io.MultiReader(strings.NewReader(nd)), JobOptions{})
		require.NoError(t, err)
		require.Equal(t, nd, g.requests()[0].body)
		require.True(t, refuseOnce.refused)
	})
}

// refusingTransport fails its first request as a refused connection
// would: before reading any of the body, which it closes, as a transport
// must.
type refusingTransport struct {
	base    http.RoundTripper
	mu      sync.Mutex
	refused bool
}

func (r *refusingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	first := !r.refused
	r.refused = true
	r.mu.Unlock()
	if first {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, &refusedError{}
	}
	return r.base.RoundTrip(req)
}

// refusedError is a connection refusal, as errors.Is sees the dialer's.
type refusedError struct{}

func (*refusedError) Error() string { return "dial tcp: connect: connection refused" }
func (*refusedError) Unwrap() error { return syscall.ECONNREFUSED }

func TestJobReadsStatus(t *testing.T) {
	t.Parallel()
	g, srv := serveJobs(t,
		jobStep{status: 200, contentType: "application/json", header: map[string]string{"X-Request-Id": "req-j"}, body: jobDoneBody},
		problem(http.StatusNotFound, problem404))
	c, _ := newTestClient(t, srv.URL+"/intelgate")
	j, err := c.Job(t.Context(), "job_01")
	require.NoError(t, err)
	require.Equal(t, JobDone, j.Status)
	require.Equal(t, JobCounts{Done: 1, Failed: 1}, j.Counts)
	require.Equal(t, 2, j.Final())
	require.Equal(t, time.Date(2026, 11, 27, 10, 0, 9, 0, time.UTC), *j.FinishedAt)
	require.Equal(t, "https://soar.example/cb", j.CallbackURL)
	require.Equal(t, CallbackDelivered, j.Callback.State)
	require.Equal(t, 204, j.Callback.LastStatus)
	require.Empty(t, j.Providers)
	require.Equal(t, "req-j", j.RequestID)
	require.Equal(t, "/intelgate/v1/jobs/job_01", g.requests()[0].path)
	require.Equal(t, http.MethodGet, g.requests()[0].method)

	_, err = c.Job(t.Context(), "job/../x")
	require.True(t, IsNotFound(err), "%v", err)
	require.Equal(t, "/intelgate/v1/jobs/job%2F..%2Fx", g.requests()[1].path, "the id is one path segment")

	_, err = c.Job(t.Context(), "..")
	require.ErrorContains(t, err, "invalid job id")
	require.Len(t, g.requests(), 2)
}

func TestWaitJobPollsUntilDone(t *testing.T) {
	t.Parallel()
	running := strings.Replace(jobQueuedBody, `"status":"queued"`, `"status":"running"`, 1)
	ok := func(body string) jobStep { return jobStep{status: 200, contentType: "application/json", body: body} }
	_, srv := serveJobs(t, ok(jobQueuedBody), ok(running), ok(jobDoneBody))
	c, rec := newTestClient(t, srv.URL)
	var seen []string
	j, err := c.WaitJob(t.Context(), "job_01", 3*time.Second, func(j *Job) { seen = append(seen, j.Status) })
	require.NoError(t, err)
	require.Equal(t, JobDone, j.Status)
	require.Equal(t, []string{JobQueued, JobRunning, JobDone}, seen)
	require.Equal(t, []time.Duration{3 * time.Second, 3 * time.Second}, rec.recorded())
}

func TestWaitJobStopsWithTheContext(t *testing.T) {
	t.Parallel()
	_, srv := serveJobs(t, jobStep{status: 200, contentType: "application/json", body: jobQueuedBody})
	c, _ := newTestClient(t, srv.URL)
	ctx, cancel := context.WithCancel(t.Context())
	c.sleep = func(context.Context, time.Duration) error { cancel(); return context.Canceled }
	j, err := c.WaitJob(ctx, "job_01", 0, nil)
	require.ErrorIs(t, err, context.Canceled)
	require.NotNil(t, j, "the last status read")
	require.Equal(t, JobQueued, j.Status)
}

func resultsPage(body, link string) jobStep {
	h := map[string]string{}
	if link != "" {
		h["Link"] = link
	}
	return jobStep{status: 200, contentType: "application/x-ndjson", header: h, body: body}
}

const (
	page1 = `{"item":1,"state":"done","indicator":"203.0.113.7","type":"ipv4","normalized":"203.0.113.7","provider":"socialeye","status":"ok","cached":false,"stale":false,"fetched_at":"2026-11-27T10:00:01Z","data":{"asn":64500},"error":null}
{"item":1,"state":"done","indicator":"203.0.113.7","type":"ipv4","normalized":"203.0.113.7","provider":"otx","status":"withheld","cached":false,"stale":false,"fetched_at":null,"data":null,"error":null,"rule":"tlp"}
`
	page2 = `{"item":2,"state":"failed","indicator":"not an indicator","provider":null,"status":"error","cached":false,"stale":false,"fetched_at":null,"data":null,"error":{"type":"https://intelgate.dev/problems/invalid-parameter","title":"Invalid parameter","status":400,"detail":"indicator: not a known type","parameter":"indicator"}}
`
)

func TestJobResultsFollowsNextLinks(t *testing.T) {
	t.Parallel()
	g, srv := serveJobs(t,
		resultsPage(page1, `</v1/jobs/job_01/results?after=1&limit=1>; rel="next"`),
		resultsPage(page2, ""))
	c, _ := newTestClient(t, srv.URL+"/intelgate")
	var lines []JobResultLine
	for l, err := range c.JobResults(t.Context(), "job_01", 1) {
		require.NoError(t, err)
		lines = append(lines, l)
	}
	require.Len(t, lines, 3)
	require.Equal(t, "socialeye", *lines[0].Provider)
	require.JSONEq(t, `{"asn":64500}`, string(lines[0].Data))
	require.Equal(t, StatusWithheld, lines[1].Status)
	require.Equal(t, "tlp", lines[1].Rule)
	require.Nil(t, lines[1].Data, "null data is nil")
	require.Nil(t, lines[2].Provider, "an item no provider answered")
	require.Equal(t, ItemFailed, lines[2].State)
	require.Equal(t, "indicator", lines[2].Error.Parameter)
	require.Equal(t, strings.TrimSuffix(page2, "\n"), string(lines[2].Raw))

	reqs := g.requests()
	require.Equal(t, "/intelgate/v1/jobs/job_01/results", reqs[0].path)
	require.Equal(t, "limit=1", reqs[0].query)
	require.Equal(t, "/intelgate/v1/jobs/job_01/results", reqs[1].path, "the base path prefix is kept")
	require.Equal(t, "after=1&limit=1", reqs[1].query)
	require.Contains(t, reqs[0].header.Get("Accept"), "application/x-ndjson")
}

func TestJobResultsStopsWhenTheCallerDoes(t *testing.T) {
	t.Parallel()
	g, srv := serveJobs(t, resultsPage(page1, `</v1/jobs/job_01/results?after=1>; rel="next"`))
	c, _ := newTestClient(t, srv.URL)
	n := 0
	for _, err := range c.JobResults(t.Context(), "job_01", 0) {
		require.NoError(t, err)
		n++
		break
	}
	require.Equal(t, 1, n)
	require.Len(t, g.requests(), 1, "no page is read that nobody asked for")
	require.Empty(t, g.requests()[0].query)
}

func TestJobResultsFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		steps []jobStep
		size  int
		want  string
		lines int
	}{
		{"not found", []jobStep{problem(http.StatusNotFound, problem404)}, 0, "no such job", 0},
		{"a link to another job", []jobStep{resultsPage(page1, `</v1/jobs/job_02/results?after=1>; rel="next"`)}, 0, "not this job's results", 2},
		{"a link that does not advance", []jobStep{
			resultsPage(page1, `</v1/jobs/job_01/results?after=1>; rel="next"`),
			resultsPage(page1, `</v1/jobs/job_01/results?after=1>; rel="next"`)}, 0, "the page just read", 4},
		{"not NDJSON", []jobStep{{status: 200, contentType: "text/html", body: "<html>"}}, 0, "not NDJSON", 0},
		{"a broken line", []jobStep{resultsPage(page1+"{\n", "")}, 0, "line 3", 0},
		{"a negative page size", nil, -1, "page size", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, srv := serveJobs(t, tt.steps...)
			c, _ := newTestClient(t, srv.URL)
			lines, errs := 0, 0
			for l, err := range c.JobResults(t.Context(), "job_01", tt.size) {
				if err != nil {
					errs++
					require.ErrorContains(t, err, tt.want)
					require.Zero(t, l.Item)
					continue
				}
				lines++
			}
			require.Equal(t, 1, errs, "a failure is yielded once and ends the sequence")
			require.Equal(t, tt.lines, lines)
		})
	}
}

func TestLinkNext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		values []string
		want   string
		ok     bool
	}{
		{[]string{`</a?after=1>; rel="next"`}, "/a?after=1", true},
		{[]string{`</p>; rel="prev", </n>; rel=next`}, "/n", true},
		{[]string{`</p>; rel="prev"`, `</n>; title="x"; rel="last next"`}, "/n", true},
		{[]string{`</p>; rel="prev"`}, "", false},
		{nil, "", false},
		{[]string{`garbage`}, "", false},
	}
	for _, tt := range tests {
		got, ok := linkNext(tt.values)
		require.Equal(t, tt.ok, ok, tt.values)
		require.Equal(t, tt.want, got, tt.values)
	}
}

// The wire types match the gateway's field names: a JobResultLine and a
// Job marshal back to the members they were read from.
func TestJobTypesRoundTrip(t *testing.T) {
	t.Parallel()
	var j Job
	require.NoError(t, json.Unmarshal([]byte(jobDoneBody), &j))
	b, err := json.Marshal(j)
	require.NoError(t, err)
	require.JSONEq(t, jobDoneBody, string(b))

	for line := range strings.Lines(page1 + page2) {
		var l JobResultLine
		require.NoError(t, json.Unmarshal([]byte(line), &l))
		b, err := json.Marshal(l)
		require.NoError(t, err)
		require.JSONEq(t, line, string(b))
	}
}
