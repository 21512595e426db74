package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

const (
	lookupTestToken = "igt_dGhpcy1pcy1hLXRlc3QtdG9rZW4tZG8tbm90LWxlYWs"

	lookupBody = `{"indicator":"8[.]8[.]8[.]8","type":"ipv4","normalized":"8.8.8.8","results":[
{"provider":"socialeye","status":"ok","cached":true,"stale":false,"fetched_at":"2026-11-27T10:00:00Z","data":{"asn":15169}},
{"provider":"whois","status":"not_found","cached":false,"stale":true,"fetched_at":"2026-11-27T09:00:00Z"},
{"provider":"otx","status":"error","cached":false,"stale":false,"error":{"type":"https://intelgate.dev/problems/upstream-timeout","title":"Upstream timed out","status":504,"detail":"no answer within 30s\u001b[2J"}}]}`

	problem401 = `{"type":"https://intelgate.dev/problems/unauthenticated","title":"Authentication required","status":401,"detail":"missing or invalid bearer token","request_id":"req-401"}`
)

// fakeGateway records each request and answers with status, content type
// and body.
type fakeGateway struct {
	status      int
	contentType string
	body        string
	header      map[string]string

	mu       sync.Mutex
	requests []*url.URL
	auth     []string
}

func (g *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.requests = append(g.requests, r.URL)
	g.auth = append(g.auth, r.Header.Get("Authorization"))
	g.mu.Unlock()
	for k, v := range g.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", g.contentType)
	w.WriteHeader(g.status)
	_, _ = w.Write([]byte(g.body))
}

type lookupRun struct {
	stdout, stderr string
	err            error
}

func runLookupCmd(t *testing.T, env map[string]string, args ...string) lookupRun {
	t.Helper()
	cmd := lookupCommand(func(k string) string { return env[k] })
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	r := lookupRun{stdout: out.String(), stderr: errOut.String(), err: err}
	require.NotContains(t, r.stdout+r.stderr, lookupTestToken, "token printed")
	return r
}

func requireExit1(t *testing.T, err error) {
	t.Helper()
	var ec exitCodeError
	require.True(t, errors.As(err, &ec), "want exitCodeError, got %v", err)
	require.Equal(t, 1, ec.code)
}

func startGateway(t *testing.T, g *fakeGateway) map[string]string {
	t.Helper()
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return map[string]string{"INTELGATE_URL": srv.URL, "INTELGATE_TOKEN": lookupTestToken}
}

func TestLookupCmdMissingEnvironment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no url", map[string]string{"INTELGATE_TOKEN": lookupTestToken}, "error: INTELGATE_URL is not set"},
		{"no token", map[string]string{"INTELGATE_URL": "http://127.0.0.1:1"}, "error: INTELGATE_TOKEN is not set"},
		{"remote http", map[string]string{"INTELGATE_URL": "http://intelgate.example.com", "INTELGATE_TOKEN": lookupTestToken}, "error: INTELGATE_URL: invalid base URL"},
		{"bad token", map[string]string{"INTELGATE_URL": "http://127.0.0.1:1", "INTELGATE_TOKEN": "igt_a b"}, "error: INTELGATE_TOKEN: invalid token: it contains spaces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runLookupCmd(t, tt.env, "8.8.8.8")
			requireExit1(t, r.err)
			require.Contains(t, r.stderr, tt.want)
			require.Empty(t, r.stdout)
		})
	}
}

func TestLookupCmdPrintsTable(t *testing.T) {
	t.Parallel()
	g := &fakeGateway{status: 200, contentType: "application/json", body: lookupBody, header: map[string]string{"X-Request-Id": "req-1"}}
	env := startGateway(t, g)

	r := runLookupCmd(t, env, "8[.]8[.]8[.]8", "--type", "ipv4", "--providers", "socialeye, whois,otx")
	require.Equal(t, exitCodeError{code: 2}, r.err, "one provider failed: exit 2, the rest still printed")
	require.Equal(t, "1 of 3 providers failed\n", r.stderr)
	require.Equal(t, `indicator   8[.]8[.]8[.]8
type        ipv4
normalized  8.8.8.8
request     req-1

PROVIDER   STATUS     CACHED  FETCHED               DETAIL
socialeye  ok         yes     2026-11-27T10:00:00Z  
whois      not_found  stale   2026-11-27T09:00:00Z  
otx        error      no      -                     Upstream timed out: no answer within 30s?[2J
`, r.stdout)
	require.Equal(t, url.Values{"indicator": {"8[.]8[.]8[.]8"}, "type": {"ipv4"}, "providers": {"socialeye,whois,otx"}}, g.requests[0].Query())
	require.Equal(t, "/v1/lookup", g.requests[0].Path)
	require.Equal(t, "Bearer "+lookupTestToken, g.auth[0])
}

func TestLookupCmdJSON(t *testing.T) {
	t.Parallel()
	g := &fakeGateway{status: 200, contentType: "application/json", body: lookupBody}
	r := runLookupCmd(t, startGateway(t, g), "8.8.8.8", "--json")
	require.Equal(t, exitCodeError{code: 2}, r.err)
	require.JSONEq(t, lookupBody, r.stdout)
}

func TestLookupCmdResolve(t *testing.T) {
	t.Parallel()
	g := &fakeGateway{status: 200, contentType: "application/json", body: `{"query":"alice@example.com","profiles":[]}`,
		header: map[string]string{"X-Intelgate-Cache": "hit", "Age": "5", "X-Request-Id": "req-r"}}
	r := runLookupCmd(t, startGateway(t, g), "alice@example.com", "--type", "email", "--resolve")
	require.NoError(t, r.err)
	require.JSONEq(t, g.body, r.stdout)
	require.Equal(t, "cache: hit, age 5s, request req-r\n", r.stderr)
	require.Equal(t, "/v1/resolve", g.requests[0].Path)
	require.Equal(t, url.Values{"query": {"alice@example.com"}, "type": {"email"}}, g.requests[0].Query())
}

func TestLookupCmdResolveRejectsProviders(t *testing.T) {
	t.Parallel()
	g := &fakeGateway{status: 200, contentType: "application/json", body: `{}`}
	r := runLookupCmd(t, startGateway(t, g), "x", "--resolve", "--providers", "otx")
	requireExit1(t, r.err)
	require.Contains(t, r.stderr, "--providers does not apply to --resolve")
	require.Empty(t, g.requests)
}

func TestLookupCmdProblemErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		g    *fakeGateway
		want string
	}{
		{
			name: "401 problem",
			g:    &fakeGateway{status: 401, contentType: "application/problem+json", body: problem401},
			want: "error: Authentication required: missing or invalid bearer token (request req-401)\n",
		},
		{
			name: "non-problem body",
			g:    &fakeGateway{status: 404, contentType: "text/html", body: "<html>" + lookupTestToken, header: map[string]string{"X-Request-Id": "req-404"}},
			want: "error: Not Found: the gateway (or a proxy in front of it) sent a non-problem error response (request req-404)\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, args := range [][]string{{"8.8.8.8"}, {"8.8.8.8", "--json"}, {"8.8.8.8", "--resolve"}} {
				r := runLookupCmd(t, startGateway(t, tt.g), args...)
				requireExit1(t, r.err)
				require.Equal(t, tt.want, r.stderr, "args %v", args)
				require.Empty(t, r.stdout)
			}
		})
	}
}

func TestLookupCmdNeedsOneIndicator(t *testing.T) {
	t.Parallel()
	r := runLookupCmd(t, map[string]string{}, "a", "b")
	require.ErrorContains(t, r.err, "accepts 1 arg")
}

// A gateway that is down must not make `intelgate lookup` print the request
// URL net/http quotes, which holds the indicator.
func TestLookupCmdConnectionErrorHidesIndicator(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	base := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())

	const indicator = "hxxp://evil-indicator.example/payload"
	env := map[string]string{"INTELGATE_URL": base, "INTELGATE_TOKEN": lookupTestToken}
	for _, args := range [][]string{{indicator}, {"--resolve", indicator}} {
		r := runLookupCmd(t, env, args...)
		requireExit1(t, r.err)
		require.Contains(t, r.stderr, "connection refused", args)
		for _, leak := range []string{"evil-indicator", "indicator=", "query=", "?"} {
			require.NotContains(t, r.stderr, leak, args)
		}
	}
}
