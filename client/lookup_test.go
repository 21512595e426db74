package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLookupDecodesEveryResultKind(t *testing.T) {
	t.Parallel()
	s, srv := serve(t, okStep(t, "lookup_mixed.json"))
	c, _ := newTestClient(t, srv.URL)

	res, err := c.Lookup(context.Background(), "hxxp://evil[.]example/x", &LookupOptions{Type: "url", Providers: []string{"socialeye", "whois", "otx"}})
	require.NoError(t, err)

	q, err := url.ParseQuery(s.query[0])
	require.NoError(t, err)
	require.Equal(t, url.Values{"indicator": {"hxxp://evil[.]example/x"}, "type": {"url"}, "providers": {"socialeye,whois,otx"}}, q)
	require.Equal(t, "Bearer "+testToken, s.auth[0])

	require.Equal(t, "url", res.Type)
	require.Equal(t, "http://evil.example/x", res.Normalized)
	require.Equal(t, "req-ok", res.RequestID)
	require.Contains(t, string(res.Raw), "future_field")
	require.Len(t, res.Results, 3)

	ok := res.Results[0]
	require.Equal(t, StatusOK, ok.Status)
	require.True(t, ok.Cached)
	require.Equal(t, time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC), *ok.FetchedAt)
	require.JSONEq(t, `{"query":"http://evil.example/x","score":87}`, string(ok.Data))
	require.Nil(t, ok.Error)

	nf := res.Results[1]
	require.Equal(t, StatusNotFound, nf.Status)
	require.Nil(t, nf.Data)

	bad := res.Results[2]
	require.Equal(t, StatusError, bad.Status)
	require.Nil(t, bad.FetchedAt)
	require.Equal(t, &ResultError{
		Type:   ProblemTypeBase + "upstream-timeout",
		Title:  "Upstream timed out",
		Status: http.StatusGatewayTimeout,
		Detail: "no response from otx within 30s",
	}, bad.Error)
}

func TestLookupOmitsEmptyOptions(t *testing.T) {
	t.Parallel()
	s, srv := serve(t, okStep(t, "lookup_mixed.json"))
	c, _ := newTestClient(t, srv.URL+"/prefix/")
	_, err := c.Lookup(context.Background(), "8.8.8.8", nil)
	require.NoError(t, err)
	require.Equal(t, "indicator=8.8.8.8", s.query[0])
}

func TestLookupRejectsBadArgumentsLocally(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		indicator string
		opts      *LookupOptions
		want      string
	}{
		{"empty indicator", "", nil, "indicator is empty"},
		{"comma in provider", "8.8.8.8", &LookupOptions{Providers: []string{"a,b"}}, "invalid provider name"},
		{"empty provider", "8.8.8.8", &LookupOptions{Providers: []string{""}}, "invalid provider name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, srv := serve(t)
			c, _ := newTestClient(t, srv.URL)
			_, err := c.Lookup(context.Background(), tt.indicator, tt.opts)
			require.ErrorContains(t, err, tt.want)
			require.Zero(t, s.hits.Load(), "nothing may be sent")
		})
	}
}

func TestProblemResponsesBecomeTypedErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		step  func(t *testing.T) step
		want  Error
		is    func(error) bool
		isNot func(error) bool
	}{
		{
			name: "401 problem",
			step: func(t *testing.T) step {
				return problemStep(t, http.StatusUnauthorized, "problem_401.json", map[string]string{"X-Request-Id": "req-401"})
			},
			want: Error{Status: 401, Type: ProblemTypeBase + "unauthenticated", Title: "Authentication required",
				Detail: "missing or invalid bearer token", RequestID: "req-401"},
			is: IsUnauthenticated, isNot: IsRateLimited,
		},
		{
			name: "400 names the parameter",
			step: func(t *testing.T) step { return problemStep(t, http.StatusBadRequest, "problem_400.json", nil) },
			want: Error{Status: 400, Type: ProblemTypeBase + "invalid-parameter", Title: "Invalid request parameter",
				Detail: "indicator contains control characters", RequestID: "req-400", Parameter: "indicator"},
			is: IsInvalidParameter, isNot: IsUnauthenticated,
		},
		{
			name: "HTML from a proxy",
			step: func(*testing.T) step {
				return step{status: http.StatusForbidden, contentType: "text/html", header: map[string]string{"X-Request-Id": "req-html"},
					body: "<html>denied " + testToken + "</html>"}
			},
			want: Error{Status: 403, Title: "Forbidden", Detail: "the gateway (or a proxy in front of it) sent a non-problem error response", RequestID: "req-html"},
			is:   IsForbidden, isNot: IsInvalidParameter,
		},
		{
			name: "problem body over 64 KiB is not parsed",
			step: func(*testing.T) step {
				big := `{"type":"x","title":"t","status":404,"detail":"` + strings.Repeat("a", 70<<10) + `"}`
				return step{status: http.StatusNotFound, contentType: "application/problem+json", body: big}
			},
			want: Error{Status: 404, Title: "Not Found", Detail: "the gateway (or a proxy in front of it) sent a non-problem error response"},
			is:   func(err error) bool { e, ok := AsError(err); return ok && e.Status == 404 }, isNot: IsForbidden,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, srv := serve(t, tt.step(t))
			c, rec := newTestClient(t, srv.URL)
			_, err := c.Lookup(context.Background(), "8.8.8.8", nil)
			require.Error(t, err)
			e, ok := AsError(err)
			require.True(t, ok, "want *Error in chain, got %T: %v", err, err)
			require.Equal(t, tt.want, *e)
			require.True(t, tt.is(err))
			require.False(t, tt.isNot(err))
			require.Empty(t, rec.recorded(), "not retried")
			require.NotContains(t, err.Error(), testToken)
		})
	}
}

func TestErrorMessage(t *testing.T) {
	t.Parallel()
	e := &Error{Status: 401, Title: "Authentication required", Detail: "missing token", RequestID: "r1", Type: ProblemTypeBase + "unauthenticated"}
	require.Equal(t, "intelgate: 401 Authentication required: missing token (request r1)", e.Error())
	require.Equal(t, "unauthenticated", e.Slug())
	require.Equal(t, "", (&Error{Type: "about:blank"}).Slug())
}

func TestResolveReturnsBodyAndCacheHeaders(t *testing.T) {
	t.Parallel()
	st := okStep(t, "resolve_ok.json")
	st.header = map[string]string{"X-Request-Id": "req-r", "X-Intelgate-Cache": CacheHit, "Age": "42"}
	s, srv := serve(t, st)
	c, _ := newTestClient(t, srv.URL)

	res, err := c.Resolve(context.Background(), "alice@example.com", "email")
	require.NoError(t, err)
	require.Equal(t, "query=alice%40example.com&type=email", s.query[0])
	require.JSONEq(t, fixture(t, "resolve_ok.json"), string(res.Data))
	require.True(t, json.Valid(res.Data))
	require.Equal(t, CacheHit, res.Cache)
	require.Equal(t, 42*time.Second, res.Age)
	require.Equal(t, "req-r", res.RequestID)
}

func TestResolveRefusesNonObjectBodies(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`[1,2]`, `null`, `"x"`, `<html>`} {
		t.Run(body, func(t *testing.T) {
			t.Parallel()
			_, srv := serve(t, step{status: http.StatusOK, contentType: "application/json", body: body})
			c, _ := newTestClient(t, srv.URL)
			_, err := c.Resolve(context.Background(), "alice", "")
			require.ErrorContains(t, err, "not a JSON object")
		})
	}
}
