package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeDLQ is the admin API's dead-letter routes: two pages of dead items,
// retries recorded.
type fakeDLQ struct {
	mu      sync.Mutex
	queries []string
	retried []string
	bodies  []string
}

func (f *fakeDLQ) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+lookupTestToken {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/admin/v1/dlq":
		f.queries = append(f.queries, r.URL.RawQuery)
		if r.URL.Query().Get("after") == "" {
			_, _ = io.WriteString(w, `{"items":[{"id":"job_a.1","job":"job_a","item":1,"client":"siem","provider":"vt","error":"upstream-timeout","attempts":5,"died_at":"2026-12-02T10:00:00Z"}],"next":"job_a.1"}`)
			return
		}
		_, _ = io.WriteString(w, `{"items":[{"id":"job_b.3","job":"job_b","item":3,"client":"siem","provider":"vt","error":"upstream-error","attempts":5,"died_at":"2026-12-02T11:00:00Z"}],"next":null}`)
	case r.Method == http.MethodPost && r.URL.Path == "/admin/v1/dlq/retry":
		b, _ := io.ReadAll(r.Body)
		f.bodies = append(f.bodies, string(b))
		more := len(f.bodies) == 1
		_ = json.NewEncoder(w).Encode(map[string]any{"retried": 1000, "more": more})
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/admin/v1/dlq/") && strings.HasSuffix(r.URL.Path, "/retry"):
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/admin/v1/dlq/"), "/retry")
		if id != "job_a.1" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"title":"Not found","detail":"no dead item \"`+id+`\" (retried already, or never dead)","status":404}`)
			return
		}
		f.retried = append(f.retried, id)
		_, _ = io.WriteString(w, `{"id":"job_a.1","state":"queued"}`)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func TestJobsDLQ(t *testing.T) {
	t.Parallel()
	f := &fakeDLQ{}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	env := map[string]string{"INTELGATE_URL": srv.URL, "INTELGATE_TOKEN": lookupTestToken}

	r := runJobsCmd(t, env, "", false, "dlq", "--provider", "vt", "--error", "upstream-timeout")
	require.NoError(t, r.err, r.stderr)
	require.Equal(t, "job_a.1\tclient=siem\tprovider=vt\terror=upstream-timeout\tattempts=5\tdied=2026-12-02T10:00:00Z\n"+
		"job_b.3\tclient=siem\tprovider=vt\terror=upstream-error\tattempts=5\tdied=2026-12-02T11:00:00Z\n", r.stdout)
	require.Contains(t, r.stderr, "2 dead item(s)")
	require.Len(t, f.queries, 2, "every page is read")
	require.Contains(t, f.queries[0], "provider=vt")
	require.Contains(t, f.queries[1], "after=job_a.1")

	r = runJobsCmd(t, env, "", false, "dlq", "retry", "job_a.1")
	require.NoError(t, r.err, r.stderr)
	require.Equal(t, "job_a.1 queued again\n", r.stdout)
	require.Equal(t, []string{"job_a.1"}, f.retried)

	r = runJobsCmd(t, env, "", false, "dlq", "retry", "job_z.9")
	requireExit1(t, r.err)
	require.Contains(t, r.stderr, `error: ID "job_z.9": Not found (404)`)

	r = runJobsCmd(t, env, "", false, "dlq", "retry", "--all", "--job", "job_b")
	require.NoError(t, r.err, r.stderr)
	require.Equal(t, "2000 dead item(s) queued again\n", r.stdout, "retried until the gateway says no more")
	require.JSONEq(t, `{"provider":"","error":"","job":"job_b","client":""}`, f.bodies[0])

	for _, args := range [][]string{
		{"dlq", "retry"},
		{"dlq", "retry", "job_a.1", "--all"},
		{"dlq", "retry", "job_a.1", "--provider", "vt"},
	} {
		r := runJobsCmd(t, env, "", false, args...)
		requireExit1(t, r.err)
		require.True(t, strings.HasPrefix(r.stderr, "error: "), r.stderr)
	}
	r = runJobsCmd(t, map[string]string{"INTELGATE_URL": srv.URL}, "", false, "dlq")
	requireExit1(t, r.err)
	require.Contains(t, r.stderr, "INTELGATE_TOKEN is not set")
}
