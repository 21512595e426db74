package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/auth"
	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/logtest"
	"github.com/intelgate/intelgate/internal/lookup"
	"github.com/intelgate/intelgate/internal/pipeline"
	"github.com/intelgate/intelgate/internal/provider"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/upstream"
)

const (
	testToken  = "igt_good-token"
	upstreamKy = "UPSTREAM-KEY-must-never-leak-7f3a"
)

// fakeAuth accepts testToken as client "siem" (providers socialeye, vt) and
// "igt_remote" as a client whose source is never allowed.
type fakeAuth struct{}

func (fakeAuth) Authenticate(r *http.Request) (*auth.Client, netip.Addr, error) {
	addr := netip.MustParseAddr("127.0.0.1")
	switch r.Header.Get("Authorization") {
	case "Bearer " + testToken:
		return &auth.Client{Name: "siem", Environment: "prod", Providers: []string{"socialeye", "vt"}}, addr, nil
	case "Bearer igt_remote":
		return &auth.Client{Name: "remote", Environment: "prod"}, addr, auth.ErrSourceNotAllowed
	}
	return nil, addr, auth.ErrUnauthenticated
}

// directCaller calls providers directly with the prod key: the resilience
// chain is internal/pipeline's and tested there.
type directCaller map[string]provider.Provider

func (d directCaller) Call(ctx context.Context, name, env string, req provider.Request) (pipeline.Outcome, error) {
	if env != "prod" {
		return pipeline.Outcome{}, govern.ErrNoKeys
	}
	res, err := d[name].Lookup(ctx, req, secret.NewValue(upstreamKy))
	return pipeline.Outcome{Result: res}, err
}

// newLookups is the lookup service over o's providers, called directly
// (directCaller) unless o names a Caller.
func newLookups(t testing.TB, o lookup.Options) *lookup.Service {
	t.Helper()
	if o.Caller == nil {
		o.Caller = callerFor(o.Providers...)
	}
	s, err := lookup.New(o)
	require.NoError(t, err)
	return s
}

func callerFor(provs ...provider.Provider) directCaller {
	d := directCaller{}
	for _, p := range provs {
		d[p.Name()] = p
	}
	return d
}

// fakeProvider answers from a function and records what it was asked.
type fakeProvider struct {
	name  string
	types []indicator.Type
	fn    func(req provider.Request, key secret.Value) (provider.Result, error)

	mu   sync.Mutex
	reqs []provider.Request
}

func (f *fakeProvider) Name() string { return f.name }
func (f *fakeProvider) Supports(t indicator.Type) bool {
	for _, x := range f.types {
		if x == t {
			return true
		}
	}
	return false
}
func (f *fakeProvider) Lookup(_ context.Context, req provider.Request, key secret.Value) (provider.Result, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	return f.fn(req, key)
}

func okProvider(name string, types ...indicator.Type) *fakeProvider {
	return &fakeProvider{name: name, types: types, fn: func(req provider.Request, key secret.Value) (provider.Result, error) {
		if key.Reveal() != upstreamKy {
			return provider.Result{}, errors.New("wrong key")
		}
		return provider.Result{Data: json.RawMessage(`{"query":"` + req.Indicator.Value + `","hits":1}`)}, nil
	}}
}

func failingProvider(name string, e *upstream.Error, types ...indicator.Type) *fakeProvider {
	return &fakeProvider{name: name, types: types, fn: func(provider.Request, secret.Value) (provider.Result, error) {
		return provider.Result{}, e
	}}
}

var allTypes = []indicator.Type{indicator.IPv4, indicator.IPv6, indicator.Domain, indicator.URL, indicator.Email,
	indicator.MD5, indicator.SHA1, indicator.SHA256, indicator.Phone, indicator.Username}

type harness struct {
	h   http.Handler
	log *logtest.Buffer
}

func newHarness(t *testing.T, logIndicators bool, provs ...provider.Provider) *harness {
	t.Helper()
	log, buf := logtest.JSONLogger()
	resolve := ""
	for _, p := range provs {
		if p.Name() == "socialeye" {
			resolve = "socialeye"
		}
	}
	g, err := New(Options{Auth: fakeAuth{},
		Lookups: newLookups(t, lookup.Options{Providers: provs, ResolveProvider: resolve, Log: log}),
		Log:     log, LogIndicators: logIndicators})
	require.NoError(t, err)
	return &harness{h: g.Handler(), log: buf}
}

func (h *harness) do(t *testing.T, method, target, token string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	require.NotEmpty(t, rec.Header().Get("X-Request-Id"), "every response carries X-Request-Id")
	return rec
}

func decodeProblem(t *testing.T, rec *httptest.ResponseRecorder) Problem {
	t.Helper()
	require.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	var p Problem
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
	require.Equal(t, rec.Code, p.Status)
	require.Equal(t, rec.Header().Get("X-Request-Id"), p.RequestID)
	require.True(t, strings.HasPrefix(p.Type, problemBase), p.Type)
	return p
}

func TestResolveReturnsUpstreamBodyUnchanged(t *testing.T) {
	t.Parallel()
	se := okProvider("socialeye", allTypes...)
	h := newHarness(t, false, se)
	rec := h.do(t, http.MethodGet, "/v1/resolve?query=JohnDoe", testToken)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	require.Equal(t, "miss", rec.Header().Get("X-Intelgate-Cache"))
	require.JSONEq(t, `{"query":"JohnDoe","hits":1}`, rec.Body.String())
	require.Len(t, se.reqs, 1)
	require.Equal(t, "auto", se.reqs[0].UpstreamType, "type defaults to auto and is passed through")
}

func TestUnauthenticatedIsIdenticalForEveryReason(t *testing.T) {
	t.Parallel()
	h := newHarness(t, false, okProvider("socialeye", allTypes...))
	var bodies []string
	for _, tok := range []string{"", "igt_wrong", "igt_good-token-but-longer", "garbage with spaces"} {
		rec := h.do(t, http.MethodGet, "/v1/resolve?query=x", tok)
		require.Equal(t, http.StatusUnauthorized, rec.Code)
		p := decodeProblem(t, rec)
		require.Equal(t, problemBase+"unauthenticated", p.Type)
		require.Contains(t, rec.Header().Get("WWW-Authenticate"), "Bearer")
		p.RequestID = ""
		b, _ := json.Marshal(p)
		bodies = append(bodies, string(b))
	}
	for _, b := range bodies[1:] {
		require.Equal(t, bodies[0], b, "a 401 must not say which part of the token was wrong")
	}
}

func TestSourceNotAllowed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, false, okProvider("socialeye", allTypes...))
	rec := h.do(t, http.MethodGet, "/v1/resolve?query=x", "igt_remote")
	require.Equal(t, http.StatusForbidden, rec.Code)
	require.Equal(t, problemBase+"source-not-allowed", decodeProblem(t, rec).Type)
	require.Contains(t, h.log.String(), `"event":"source_not_allowed"`)
}

func TestParameterErrorsNameTheParameter(t *testing.T) {
	t.Parallel()
	h := newHarness(t, false, okProvider("socialeye", allTypes...), okProvider("vt", indicator.IPv4))
	cases := []struct {
		name, target, param, slug string
		status                    int
	}{
		{"resolve empty query", "/v1/resolve?query=", "query", "invalid-parameter", 400},
		{"resolve missing query", "/v1/resolve", "query", "invalid-parameter", 400},
		{"resolve control char", "/v1/resolve?query=a%00b", "query", "invalid-parameter", 400},
		{"resolve too long", "/v1/resolve?query=" + strings.Repeat("a", 2049), "query", "invalid-parameter", 400},
		{"resolve bad type", "/v1/resolve?query=x&type=%3Cscript%3E", "type", "invalid-parameter", 400},
		{"lookup empty", "/v1/lookup?indicator=", "indicator", "invalid-parameter", 400},
		{"lookup bad type", "/v1/lookup?indicator=x&type=banana", "type", "invalid-parameter", 400},
		{"lookup type mismatch", "/v1/lookup?indicator=not-an-ip&type=ipv4", "indicator", "invalid-parameter", 400},
		{"unknown provider", "/v1/lookup?indicator=8.8.8.8&providers=nope", "providers", "unknown-provider", 400},
		{"unsupported type", "/v1/lookup?indicator=evil.example&providers=vt", "providers", "unsupported-type", 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := h.do(t, http.MethodGet, tc.target, testToken)
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			p := decodeProblem(t, rec)
			require.Equal(t, problemBase+tc.slug, p.Type)
			require.Equal(t, tc.param, p.Parameter)
		})
	}
}

func TestProviderScope(t *testing.T) {
	t.Parallel()
	h := newHarness(t, false, okProvider("socialeye", allTypes...), okProvider("vt", allTypes...),
		okProvider("greynoise", allTypes...))
	rec := h.do(t, http.MethodGet, "/v1/lookup?indicator=8.8.8.8&providers=greynoise", testToken)
	require.Equal(t, http.StatusForbidden, rec.Code)
	require.Equal(t, problemBase+"forbidden", decodeProblem(t, rec).Type)

	// Without providers=, only permitted providers are asked.
	rec = h.do(t, http.MethodGet, "/v1/lookup?indicator=8.8.8.8", testToken)
	require.Equal(t, http.StatusOK, rec.Code)
	var resp LookupResponse
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
	var names []string
	for _, r := range resp.Results {
		names = append(names, r.Provider)
	}
	require.Equal(t, []string{"socialeye", "vt"}, names)
}

func TestLookupReportsPartialFailuresPerProvider(t *testing.T) {
	t.Parallel()
	vt := failingProvider("vt", &upstream.Error{Kind: upstream.KindTimeout, Detail: "no response within 30s"}, allTypes...)
	h := newHarness(t, false, okProvider("socialeye", allTypes...), vt)
	rec := h.do(t, http.MethodGet, "/v1/lookup?indicator=hxxp://Evil[.]Example/Path", testToken)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var resp LookupResponse
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
	require.Equal(t, indicator.URL, resp.Type)
	require.Equal(t, "hxxp://Evil[.]Example/Path", resp.Indicator)
	require.Len(t, resp.Results, 2)
	ok, failed := resp.Results[0], resp.Results[1]
	require.Equal(t, "ok", ok.Status)
	require.NotNil(t, ok.FetchedAt)
	require.JSONEq(t, `{"query":"`+resp.Normalized+`","hits":1}`, string(ok.Data))
	require.Equal(t, "error", failed.Status)
	require.Equal(t, "null", string(failed.Data), "every contract field is present, null when empty")
	require.Nil(t, failed.FetchedAt)
	require.Equal(t, problemBase+"upstream-timeout", failed.Error.Type)
	require.Equal(t, http.StatusGatewayTimeout, failed.Error.Status)
}

func TestUpstreamErrorMapping(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err        *upstream.Error
		status     int
		slug       string
		retryAfter string
	}{
		{&upstream.Error{Kind: upstream.KindTLS, Detail: "certificate public key does not match any configured pin"}, 502, "upstream-tls", ""},
		{&upstream.Error{Kind: upstream.KindConnect, Detail: "connection refused"}, 502, "upstream-unavailable", ""},
		{&upstream.Error{Kind: upstream.KindTimeout, Detail: "timeout"}, 504, "upstream-timeout", ""},
		{&upstream.Error{Kind: upstream.KindTooLarge, Detail: "body over 5 MiB"}, 502, "upstream-invalid-response", ""},
		{&upstream.Error{Kind: upstream.KindContentType, Detail: "text/html"}, 502, "upstream-invalid-response", ""},
		{&upstream.Error{Kind: upstream.KindMalformed, Detail: "not an object"}, 502, "upstream-invalid-response", ""},
		{&upstream.Error{Kind: upstream.KindSchema, Detail: "missing field"}, 502, "upstream-invalid-response", ""},
		{&upstream.Error{Kind: upstream.KindAuth, Status: 401, Detail: "401"}, 502, "upstream-auth", ""},
		{&upstream.Error{Kind: upstream.KindRateLimited, Status: 429, RetryAfter: 1500 * time.Millisecond}, 429, "upstream-rate-limited", "2"},
		{&upstream.Error{Kind: upstream.KindUpstream, Status: 503}, 502, "upstream-error", ""},
		{&upstream.Error{Kind: upstream.KindRejected, Status: 422}, 502, "upstream-error", ""},
	}
	for _, tc := range cases {
		t.Run(string(tc.err.Kind), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, false, failingProvider("socialeye", tc.err, allTypes...))
			rec := h.do(t, http.MethodGet, "/v1/resolve?query=johndoe", testToken)
			require.Equal(t, tc.status, rec.Code)
			p := decodeProblem(t, rec)
			require.Equal(t, problemBase+tc.slug, p.Type)
			require.Equal(t, tc.retryAfter, rec.Header().Get("Retry-After"))
			require.NotContains(t, rec.Body.String(), upstreamKy)
			require.NotContains(t, h.log.String(), upstreamKy)
		})
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	nf := &fakeProvider{name: "socialeye", types: allTypes, fn: func(provider.Request, secret.Value) (provider.Result, error) {
		return provider.Result{NotFound: true}, nil
	}}
	h := newHarness(t, false, nf)
	rec := h.do(t, http.MethodGet, "/v1/resolve?query=nobody", testToken)
	require.Equal(t, http.StatusNotFound, rec.Code)
	require.Equal(t, problemBase+"not-found", decodeProblem(t, rec).Type)

	rec = h.do(t, http.MethodGet, "/v1/lookup?indicator=nobody", testToken)
	require.Equal(t, http.StatusOK, rec.Code)
	var resp LookupResponse
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
	require.Equal(t, "not_found", resp.Results[0].Status)
	require.Equal(t, "null", string(resp.Results[0].Data))
	require.Nil(t, resp.Results[0].Error)
}

func TestResolvePassesUpstream400BackAsTheClientsError(t *testing.T) {
	t.Parallel()
	h := newHarness(t, false, failingProvider("socialeye", &upstream.Error{Kind: upstream.KindRejected, Status: 400}, allTypes...))
	rec := h.do(t, http.MethodGet, "/v1/resolve?query=x&type=bogus", testToken)
	require.Equal(t, http.StatusBadRequest, rec.Code)
	require.Equal(t, "type", decodeProblem(t, rec).Parameter)
}

func TestResolveForwardsTheQueryAsSent(t *testing.T) {
	t.Parallel()
	se := okProvider("socialeye", allTypes...)
	h := newHarness(t, false, se)
	for _, q := range []string{"John Smith", "10.0.0.0/8", "+1 555 123 4567"} {
		rec := h.do(t, http.MethodGet, "/v1/resolve?type=AUTO&query="+url.QueryEscape(" "+q+" "), testToken)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	}
	require.Equal(t, "John Smith", se.reqs[0].Indicator.Value, "only trimmed: SocialEye decides what a query means")
	require.Equal(t, "10.0.0.0/8", se.reqs[1].Indicator.Value)
	require.Equal(t, "+1 555 123 4567", se.reqs[2].Indicator.Value)
	require.Equal(t, "auto", se.reqs[0].UpstreamType)
}

func TestStrictRequests(t *testing.T) {
	t.Parallel()
	se := okProvider("socialeye", allTypes...)
	h := newHarness(t, false, se)
	cases := []struct {
		method, target string
		status         int
	}{
		{http.MethodGet, "//v1/resolve?query=a", http.StatusNotFound},
		{http.MethodGet, "/v1/../healthz", http.StatusNotFound},
		{http.MethodGet, "/v1/resolve?query=%zz", http.StatusBadRequest},
		{http.MethodGet, "/v1/resolve?query=a;b", http.StatusBadRequest},
		{http.MethodHead, "/v1/resolve?query=a", http.StatusMethodNotAllowed},
	}
	for _, tc := range cases {
		req := httptest.NewRequest(tc.method, "/", nil)
		req.URL, _ = url.Parse(tc.target)
		req.RequestURI = tc.target
		req.Header.Set("Authorization", "Bearer "+testToken)
		rec := httptest.NewRecorder()
		h.h.ServeHTTP(rec, req)
		require.Equal(t, tc.status, rec.Code, tc.target)
		require.Empty(t, rec.Header().Get("Location"), "never a redirect")
	}
	require.Empty(t, se.reqs, "none of these reached the provider")
}

func TestRoutingProblems(t *testing.T) {
	t.Parallel()
	h := newHarness(t, false, okProvider("socialeye", allTypes...))
	rec := h.do(t, http.MethodPost, "/v1/resolve?query=x", testToken)
	require.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	require.Equal(t, problemBase+"method-not-allowed", decodeProblem(t, rec).Type)

	rec = h.do(t, http.MethodGet, "/v2/nothing", testToken)
	require.Equal(t, http.StatusNotFound, rec.Code)
	decodeProblem(t, rec)

	rec = h.do(t, http.MethodGet, "/healthz", "")
	require.Equal(t, http.StatusOK, rec.Code)
}

func TestAccessLogOmitsIndicatorUnlessEnabled(t *testing.T) {
	t.Parallel()
	for _, enabled := range []bool{false, true} {
		h := newHarness(t, enabled, okProvider("socialeye", allTypes...))
		h.do(t, http.MethodGet, "/v1/resolve?query=secret-suspect-handle", testToken)
		line := lastLogLine(t, h.log)
		require.Equal(t, "request", line["msg"])
		require.Equal(t, "siem", line["client"])
		require.Equal(t, "socialeye", line["provider"])
		require.Equal(t, "username", line["indicator_type"])
		require.EqualValues(t, 200, line["status"])
		require.Contains(t, line, "latency_ms")
		require.Equal(t, "/v1/resolve", line["path"])
		if enabled {
			require.Equal(t, "secret-suspect-handle", line["indicator"])
		} else {
			require.NotContains(t, h.log.String(), "secret-suspect-handle")
		}
	}
}

func lastLogLine(t *testing.T, buf *logtest.Buffer) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &m))
	return m
}

// TestRequestIDFromTrustedProxiesOnly: a caller's X-Request-Id becomes the
// request id only from a trusted proxy; anyone else's is logged beside the
// gateway's own, and an unsafe one is not logged at all.
func TestRequestIDFromTrustedProxiesOnly(t *testing.T) {
	t.Parallel()
	log, buf := logtest.JSONLogger()
	g, err := New(Options{Auth: fakeAuth{}, Lookups: newLookups(t, lookup.Options{}), Log: log,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	require.NoError(t, err)
	cases := []struct {
		name, remote, header string
		kept                 bool   // the response's id is the caller's
		logged               string // client_request_id in the access log; "" for none
	}{
		{"trusted proxy", "10.1.2.3:4000", "caller-trace-0001", true, ""},
		{"direct caller", "192.0.2.1:4000", "caller-trace-0001", false, "caller-trace-0001"},
		{"direct caller, IPv4-mapped", "[::ffff:192.0.2.1]:4000", "caller-trace-0002", false, "caller-trace-0002"},
		{"trusted proxy, IPv4-mapped", "[::ffff:10.0.0.9]:4000", "caller-trace-0003", true, ""},
		{"unsafe id from a proxy", "10.1.2.3:4000", "bad\nid injected into logs", false, ""},
		{"unsafe id from a caller", "192.0.2.1:4000", "bad\nid injected into logs", false, ""},
		{"too short", "192.0.2.1:4000", "short", false, ""},
		{"none", "192.0.2.1:4000", "", false, ""},
		{"trusted proxy appended its id to the caller's", "10.1.2.3:4000", "client-chosen-0001,proxy-id-00000001", false, "client-chosen-0001"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
			req.RemoteAddr = tc.remote
			for v := range strings.SplitSeq(tc.header, ",") { // a comma: several header lines
				if v != "" {
					req.Header.Add("X-Request-Id", v)
				}
			}
			rec := httptest.NewRecorder()
			g.Handler().ServeHTTP(rec, req)
			id := rec.Header().Get("X-Request-Id")
			require.NotEmpty(t, id)
			if tc.kept {
				require.Equal(t, tc.header, id)
			} else {
				require.NotContains(t, tc.header, id)
				require.Regexp(t, `^[0-9a-f]{24}$`, id, "the gateway's own id")
			}
			line := accessLine(t, buf, id)
			if tc.logged == "" {
				require.NotContains(t, line, "client_request_id")
			} else {
				require.Equal(t, tc.logged, line["client_request_id"])
			}
			require.NotContains(t, buf.String(), "injected")
		})
	}
}

// accessLine finds the access log line of the request with id.
func accessLine(t *testing.T, buf *logtest.Buffer, id string) map[string]any {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		if m["msg"] == "request" && m["request_id"] == id {
			return m
		}
	}
	t.Fatalf("no access log line for request %s in:\n%s", id, buf.String())
	return nil
}

func TestPanicBecomesProblemWithoutDetails(t *testing.T) {
	t.Parallel()
	boom := &fakeProvider{name: "socialeye", types: allTypes, fn: func(provider.Request, secret.Value) (provider.Result, error) {
		panic("boom with " + upstreamKy)
	}}
	h := newHarness(t, false, boom)
	rec := h.do(t, http.MethodGet, "/v1/resolve?query=x", testToken)
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	require.NotContains(t, rec.Body.String(), "boom")
	require.NotContains(t, rec.Body.String(), upstreamKy)
}

type pingFunc func(context.Context) error

func (f pingFunc) Ping(ctx context.Context) error { return f(ctx) }

func TestReadyz(t *testing.T) {
	t.Parallel()
	for _, failing := range []bool{false, true} {
		g, err := New(Options{Auth: fakeAuth{}, Lookups: newLookups(t, lookup.Options{}), Ready: map[string]Checker{
			"store": pingFunc(func(context.Context) error {
				if failing {
					return errors.New("dial postgres://user:pw@db failed")
				}
				return nil
			}),
		}})
		require.NoError(t, err)
		rec := httptest.NewRecorder()
		g.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		if failing {
			require.Equal(t, http.StatusServiceUnavailable, rec.Code)
			require.NotContains(t, rec.Body.String(), "pw@db")
		} else {
			require.Equal(t, http.StatusOK, rec.Code)
		}
	}
}

type countingAdmitter struct {
	mu    sync.Mutex
	calls int
	limit int
}

func (c *countingAdmitter) AdmitClient(_ context.Context, client string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.calls > c.limit {
		return &govern.LimitedError{Scope: "client", Name: client, Reason: "day_quota", RetryAfter: 90 * time.Minute}
	}
	return nil
}

func TestClientAllowanceIsSpentOnlyByValidRequests(t *testing.T) {
	t.Parallel()
	se := okProvider("socialeye", allTypes...)
	adm := &countingAdmitter{limit: 1}
	g, err := New(Options{Auth: fakeAuth{}, Lookups: newLookups(t, lookup.Options{
		Providers: []provider.Provider{se}, ResolveProvider: "socialeye", Admit: adm})})
	require.NoError(t, err)
	h := &harness{h: g.Handler(), log: &logtest.Buffer{}}

	rec := h.do(t, http.MethodGet, "/v1/resolve?query=", testToken)
	require.Equal(t, http.StatusBadRequest, rec.Code)
	require.Zero(t, adm.calls, "a malformed request costs the client nothing")

	rec = h.do(t, http.MethodGet, "/v1/resolve?query=a", testToken)
	require.Equal(t, http.StatusOK, rec.Code)
	rec = h.do(t, http.MethodGet, "/v1/lookup?indicator=8.8.8.8", testToken)
	require.Equal(t, http.StatusTooManyRequests, rec.Code)
	p := decodeProblem(t, rec)
	require.Equal(t, problemBase+"rate-limited", p.Type)
	require.Contains(t, p.Detail, "daily quota")
	require.Equal(t, "5400", rec.Header().Get("Retry-After"))
	require.Len(t, se.reqs, 1, "the refused lookup never reached a provider")
}
