package lookup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/logtest"
	"github.com/intelgate/intelgate/internal/observe"
	"github.com/intelgate/intelgate/internal/observe/observetest"
	"github.com/intelgate/intelgate/internal/pipeline"
	"github.com/intelgate/intelgate/internal/provider"
	"github.com/intelgate/intelgate/internal/resilience"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/upstream"
)

// typed is a provider that supports some types; the service never calls
// it directly (the Caller does).
type typed struct {
	name  string
	types []indicator.Type
}

func (p typed) Name() string                   { return p.name }
func (p typed) Supports(t indicator.Type) bool { return slices.Contains(p.types, t) }
func (typed) Lookup(context.Context, provider.Request, secret.Value) (provider.Result, error) {
	panic("the service calls providers through its Caller")
}

// fakeCaller answers per provider from a function and records each call.
type fakeCaller struct {
	fn func(name string, req provider.Request) (pipeline.Outcome, error)

	mu    sync.Mutex
	calls []call
}

type call struct {
	provider, env string
	req           provider.Request
}

func (c *fakeCaller) Call(_ context.Context, name, env string, req provider.Request) (pipeline.Outcome, error) {
	c.mu.Lock()
	c.calls = append(c.calls, call{name, env, req})
	c.mu.Unlock()
	if c.fn == nil {
		return pipeline.Outcome{Result: provider.Result{Data: json.RawMessage(`{"from":"` + name + `"}`), Status: 200},
			KeyID: name + "-key", Attempts: 1, Units: 1, UpstreamStatus: 200}, nil
	}
	return c.fn(name, req)
}

func (c *fakeCaller) providers() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, x := range c.calls {
		out = append(out, x.provider)
	}
	slices.Sort(out)
	return out
}

// fakeAdmitter admits limit requests, then refuses as the governor does.
type fakeAdmitter struct {
	mu      sync.Mutex
	limit   int
	clients []string
}

func (a *fakeAdmitter) AdmitClient(_ context.Context, client string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.clients = append(a.clients, client)
	if len(a.clients) > a.limit {
		return &govern.LimitedError{Scope: "client", Name: client, Reason: "day_quota", RetryAfter: 90 * time.Minute}
	}
	return nil
}

var (
	ipOnly   = typed{"ipdb", []indicator.Type{indicator.IPv4, indicator.IPv6}}
	anything = typed{"socialeye", []indicator.Type{indicator.IPv4, indicator.IPv6, indicator.Domain, indicator.Email,
		indicator.URL, indicator.Username, indicator.MD5, indicator.SHA1, indicator.SHA256, indicator.Phone}}
	hashes = typed{"vt", []indicator.Type{indicator.MD5, indicator.SHA1, indicator.SHA256, indicator.Domain, indicator.IPv4}}
)

func newService(t *testing.T, caller Caller, admit Admitter, obs observe.Observer) *Service {
	t.Helper()
	s, err := New(Options{Providers: []provider.Provider{anything, hashes, ipOnly}, ResolveProvider: "socialeye",
		Caller: caller, Admit: admit, Observer: obs})
	require.NoError(t, err)
	return s
}

var siem = Identity{Client: "siem", Environment: "prod", Providers: []string{"socialeye", "vt", "ipdb"}, RequestID: "req-1"}

// TestLookupSelection: who may ask which provider for what. Every case
// that fails is refused before any provider call and before the client's
// allowance is spent.
func TestLookupSelection(t *testing.T) {
	t.Parallel()
	only := func(ps ...string) Identity { id := siem; id.Providers = ps; return id }
	cases := []struct {
		name      string
		id        Identity
		req       Request
		want      []string // providers called, sorted
		kind      Kind     // request-level failure
		parameter string
		detail    string
	}{
		{"every permitted provider that supports ipv4", siem, Request{Indicator: "8.8.8.8"}, []string{"ipdb", "socialeye", "vt"}, "", "", ""},
		{"type narrows: an email only to socialeye", siem, Request{Indicator: "a@example.com"}, []string{"socialeye"}, "", "", ""},
		{"scope narrows", only("vt"), Request{Indicator: "8.8.8.8"}, []string{"vt"}, "", "", ""},
		{"refanged input", siem, Request{Indicator: "hxxps://evil[.]example/x"}, []string{"socialeye"}, "", "", ""},
		{"named subset", siem, Request{Indicator: "8.8.8.8", Providers: []string{" vt", "ipdb", "vt"}}, []string{"ipdb", "vt"}, "", "", ""},
		{"empty scope", only(), Request{Indicator: "8.8.8.8"}, nil, KindUnsupportedType, "", "none of this client's providers supports type ipv4"},
		{"no permitted provider supports the type", only("ipdb"), Request{Indicator: "a@example.com"}, nil, KindUnsupportedType, "", "none of this client's providers supports type email"},
		{"named provider outside scope", only("vt"), Request{Indicator: "8.8.8.8", Providers: []string{"ipdb"}}, nil, KindForbidden, "", "this client may not use provider ipdb"},
		{"unknown provider", siem, Request{Indicator: "8.8.8.8", Providers: []string{"nope"}}, nil, KindUnknownProvider, "providers", `providers: unknown provider "nope"`},
		{"named provider lacks the type", siem, Request{Indicator: "a@example.com", Providers: []string{"ipdb"}}, nil, KindUnsupportedType, "providers", "provider ipdb does not support type email"},
		{"an empty list names none", siem, Request{Indicator: "8.8.8.8", Providers: []string{}}, nil, KindInvalidParameter, "providers", "providers: must name at least one provider"},
		{"blank names only", siem, Request{Indicator: "8.8.8.8", Providers: []string{" ", ""}}, nil, KindInvalidParameter, "providers", "providers: must name at least one provider"},
		{"too many names", siem, Request{Indicator: "8.8.8.8", Providers: strings.Split(strings.Repeat("vt,", MaxProviders), ",")}, nil, KindInvalidParameter, "providers", "providers: at most 64 providers"},
		{"bad type hint", siem, Request{Indicator: "8.8.8.8", Type: "ipv5"}, nil, KindInvalidParameter, "type", ""},
		{"type hint that does not fit", siem, Request{Indicator: "8.8.8.8", Type: indicator.Email}, nil, KindInvalidParameter, "indicator", ""},
		{"empty indicator", siem, Request{Indicator: ""}, nil, KindInvalidParameter, "indicator", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			caller, admit, rec := &fakeCaller{}, &fakeAdmitter{limit: 10}, &observetest.Recorder{}
			s := newService(t, caller, admit, rec)
			res, err := s.Lookup(context.Background(), tc.id, tc.req)
			require.Equal(t, tc.want, caller.providers())
			if tc.kind != "" {
				var f *Failure
				require.ErrorAs(t, err, &f)
				require.Equal(t, tc.kind, f.Kind)
				require.Equal(t, tc.parameter, f.Parameter)
				if tc.detail != "" {
					require.Equal(t, tc.detail, f.Detail)
				}
				require.Empty(t, admit.clients, "a refused request costs the client nothing")
				require.Equal(t, []string{"refused"}, rec.Steps())
				require.Equal(t, string(tc.kind), observetest.Of[observe.Refused](rec)[0].Kind)
				return
			}
			require.NoError(t, err)
			require.Equal(t, []string{tc.id.Client}, admit.clients, "one unit of the client's allowance per request")
			require.Len(t, res.Outcomes, len(tc.want))
			for i, o := range res.Outcomes {
				require.Equal(t, res.Providers[i], o.Provider, "outcomes in provider order")
				require.Equal(t, StatusOK, o.Status)
				require.JSONEq(t, `{"from":"`+o.Provider+`"}`, string(o.Data))
				require.Equal(t, o.Provider+"-key", o.KeyID)
				require.Equal(t, CacheOff, o.Cache, "no cache configured")
				require.False(t, o.FetchedAt.IsZero())
			}
			for _, c := range caller.calls {
				require.Equal(t, tc.id.Environment, c.env, "the identity's environment selects the keys")
				require.Equal(t, tc.id.Client, c.req.Client)
				require.Equal(t, res.Indicator, c.req.Indicator, "providers get the normalised indicator")
			}
		})
	}
}

// TestLookupKeepsRequestOrderOfNamedProviders: without a list, results
// follow the configured provider order; with one, the list's order.
func TestLookupKeepsRequestOrderOfNamedProviders(t *testing.T) {
	t.Parallel()
	s := newService(t, &fakeCaller{}, nil, nil)
	res, err := s.Lookup(context.Background(), siem, Request{Indicator: "8.8.8.8"})
	require.NoError(t, err)
	require.Equal(t, []string{"socialeye", "vt", "ipdb"}, res.Providers, "configured order without a list")
	res, err = s.Lookup(context.Background(), siem, Request{Indicator: "8.8.8.8", Providers: []string{"ipdb", "socialeye"}})
	require.NoError(t, err)
	require.Equal(t, []string{"ipdb", "socialeye"}, res.Providers, "the request's order with one")
}

func TestClientAllowanceRefusal(t *testing.T) {
	t.Parallel()
	caller, admit, rec := &fakeCaller{}, &fakeAdmitter{limit: 0}, &observetest.Recorder{}
	s := newService(t, caller, admit, rec)
	res, err := s.Lookup(context.Background(), siem, Request{Indicator: "8.8.8.8"})
	var f *Failure
	require.ErrorAs(t, err, &f)
	require.Equal(t, KindRateLimited, f.Kind)
	require.Equal(t, 90*time.Minute, f.RetryAfter)
	require.Equal(t, "client siem: daily quota reached; retry after 1h30m0s", f.Detail)
	require.Empty(t, caller.calls, "no provider is asked for a client over its allowance")
	require.Equal(t, "8.8.8.8", res.Indicator.Value, "what was learnt is kept for the caller's logs")
	require.Equal(t, []string{"refused"}, rec.Steps())
}

// TestFailureClassification: each error of the call chain means one thing
// to the caller, decided in one place.
func TestFailureClassification(t *testing.T) {
	t.Parallel()
	up := func(k upstream.Kind, status int) error {
		return &upstream.Error{Kind: k, Status: status, Detail: "detail of " + string(k)}
	}
	cases := []struct {
		name       string
		err        error
		kind       Kind
		detail     string
		parameter  string
		retryAfter time.Duration
	}{
		{"tls", up(upstream.KindTLS, 0), KindUpstreamTLS, "provider vt: detail of tls", "", 0},
		{"connect", up(upstream.KindConnect, 0), KindUpstreamUnavailable, "provider vt: detail of connect", "", 0},
		{"timeout", up(upstream.KindTimeout, 0), KindUpstreamTimeout, "provider vt: detail of timeout", "", 0},
		{"too large", up(upstream.KindTooLarge, 200), KindUpstreamInvalid, "provider vt: detail of too_large", "", 0},
		{"content type", up(upstream.KindContentType, 200), KindUpstreamInvalid, "provider vt: detail of content_type", "", 0},
		{"malformed", up(upstream.KindMalformed, 200), KindUpstreamInvalid, "provider vt: detail of malformed", "", 0},
		{"schema", up(upstream.KindSchema, 200), KindUpstreamInvalid, "provider vt: detail of schema", "", 0},
		{"credential leak", up(upstream.KindCredentialLeak, 200), KindUpstreamInvalid, "provider vt: detail of credential_leak", "", 0},
		{"401", up(upstream.KindAuth, 401), KindUpstreamAuth, "provider vt rejected the gateway's credentials; the operator has been alerted", "", 0},
		{"403", up(upstream.KindAuth, 403), KindUpstreamAuth, "provider vt refused this request (403 Forbidden); the operator has been alerted", "", 0},
		{"429", &upstream.Error{Kind: upstream.KindRateLimited, Status: 429, RetryAfter: 7 * time.Second}, KindUpstreamRateLimited, "provider vt is rate limiting; retry later", "", 7 * time.Second},
		{"5xx", up(upstream.KindUpstream, 503), KindUpstreamError, "provider vt: detail of upstream", "", 0},
		{"other 4xx", up(upstream.KindRejected, 400), KindUpstreamError, "provider vt: detail of rejected", "", 0},
		{"provider limit", &govern.LimitedError{Scope: "provider", Name: "vt", Reason: "rate", RetryAfter: 1500 * time.Millisecond}, KindUpstreamRateLimited, "provider vt: rate limit reached; retry after 2s", "", 1500 * time.Millisecond},
		{"paused", &govern.LimitedError{Scope: "provider", Name: "vt", Reason: "paused", RetryAfter: time.Minute}, KindUpstreamRateLimited, "provider vt: upstream-requested pause reached; retry after 1m0s", "", time.Minute},
		{"breaker open", &resilience.OpenError{Name: "vt", RetryAfter: 20 * time.Second}, KindUnavailable, "provider vt is failing; its circuit breaker is open", "", 20 * time.Second},
		{"no keys", fmt.Errorf("acquiring: %w", govern.ErrNoKeys), KindUnavailable, "provider vt has no usable key for this client's environment (revoked by the upstream, or none configured)", "", 0},
		{"shared state down", errors.Join(govern.ErrUnavailable, errors.New("dial tcp: refused")), KindUnavailable, "the shared rate-limit state is unreachable; refusing to call upstream unpaced", "", time.Second},
		{"unsafe indicator", &provider.UnsafeIndicatorError{Reason: "contains '/', a path separator"}, KindInvalidParameter, "indicator: provider vt cannot place this value in its request path: it contains '/', a path separator", "indicator", 0},
		{"deadline", context.DeadlineExceeded, KindUpstreamTimeout, "provider vt did not answer in time", "", 0},
		{"anything else", errors.New("postgres://user:pw@db exploded"), KindInternal, "an internal error occurred; quote the request id to your operator", "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			log, logs := logtest.JSONLogger()
			caller := &fakeCaller{fn: func(string, provider.Request) (pipeline.Outcome, error) {
				return pipeline.Outcome{KeyID: "vt-1", Attempts: 2, UpstreamStatus: 503}, tc.err
			}}
			s, err := New(Options{Providers: []provider.Provider{hashes}, Caller: caller, Log: log})
			require.NoError(t, err)
			res, err := s.Lookup(context.Background(), siem, Request{Indicator: "8.8.8.8"})
			require.NoError(t, err, "a provider's failure is its own result")
			o := res.Outcomes[0]
			require.Equal(t, StatusError, o.Status)
			require.Equal(t, &Failure{Kind: tc.kind, Detail: tc.detail, Parameter: tc.parameter, RetryAfter: tc.retryAfter}, o.Failure)
			require.True(t, o.FetchedAt.IsZero())
			require.Nil(t, o.Data)
			require.Equal(t, "vt-1", o.KeyID, "a failed lookup keeps its facts")
			require.Equal(t, 2, o.Attempts)
			if tc.kind == KindInternal {
				require.Contains(t, logs.String(), `"msg":"lookup failed"`, "the operator's log keeps the cause the caller is not told")
			}
		})
	}
}

func TestNotFoundIsAResult(t *testing.T) {
	t.Parallel()
	caller := &fakeCaller{fn: func(string, provider.Request) (pipeline.Outcome, error) {
		return pipeline.Outcome{Result: provider.Result{NotFound: true, Status: 404}, UpstreamStatus: 404, Units: 1}, nil
	}}
	s := newService(t, caller, nil, nil)
	res, err := s.Lookup(context.Background(), siem, Request{Indicator: "a@example.com"})
	require.NoError(t, err)
	o := res.Outcomes[0]
	require.Equal(t, StatusNotFound, o.Status)
	require.Nil(t, o.Data)
	require.Nil(t, o.Failure)
	require.False(t, o.FetchedAt.IsZero(), "a negative answer is an answer, with its time")
	require.Equal(t, 404, o.UpstreamStatus)
}

// A panic below the service becomes that provider's internal failure; the
// other providers' results stand.
func TestPanicInOneProviderIsItsOwnFailure(t *testing.T) {
	t.Parallel()
	log, logs := logtest.JSONLogger()
	caller := &fakeCaller{fn: func(name string, _ provider.Request) (pipeline.Outcome, error) {
		if name == "vt" {
			panic("bad upstream answer")
		}
		return pipeline.Outcome{Result: provider.Result{Data: json.RawMessage(`{}`)}}, nil
	}}
	rec := &observetest.Recorder{}
	s, err := New(Options{Providers: []provider.Provider{anything, hashes}, Caller: caller, Log: log, Observer: rec})
	require.NoError(t, err)
	res, err := s.Lookup(context.Background(), siem, Request{Indicator: "8.8.8.8"})
	require.NoError(t, err)
	require.Equal(t, StatusOK, res.Outcomes[0].Status)
	require.Equal(t, StatusError, res.Outcomes[1].Status)
	require.Equal(t, KindInternal, res.Outcomes[1].Failure.Kind)
	require.Contains(t, logs.String(), `"panic in provider lookup"`)
	require.Contains(t, logs.String(), `"request_id":"req-1"`)
	kinds := map[string]string{}
	for _, f := range observetest.Of[observe.Finished](rec) {
		kinds[f.Provider] = f.Kind
	}
	require.Equal(t, map[string]string{"socialeye": "", "vt": "internal"}, kinds, "a panic is observed like any failure")

	// Resolve has no caller to recover for it either (a job worker).
	rec.Reset()
	s, err = New(Options{Providers: []provider.Provider{anything}, ResolveProvider: "socialeye", Log: log, Observer: rec,
		Caller: &fakeCaller{fn: func(string, provider.Request) (pipeline.Outcome, error) { panic("boom") }}})
	require.NoError(t, err)
	res, err = s.Resolve(context.Background(), siem, ResolveRequest{Query: "x"})
	require.NoError(t, err)
	require.Equal(t, KindInternal, res.Outcomes[0].Failure.Kind)
	require.Equal(t, []string{"admitted", "finished"}, rec.Steps())
}

func TestResolve(t *testing.T) {
	t.Parallel()
	rejected := &upstream.Error{Kind: upstream.KindRejected, Status: http.StatusBadRequest, Detail: "rejected"}
	cases := []struct {
		name      string
		id        Identity
		req       ResolveRequest
		answer    error
		kind      Kind // request-level
		parameter string
		sentType  string
		outcome   Kind // the provider's failure
	}{
		{"drop-in defaults to auto", siem, ResolveRequest{Query: "John Doe"}, nil, "", "", "auto", ""},
		{"type passed through, lowercased", siem, ResolveRequest{Query: "8.8.8.8", UpstreamType: "IP"}, nil, "", "", "ip", ""},
		{"type must be an identifier", siem, ResolveRequest{Query: "x", UpstreamType: "a b"}, nil, KindInvalidParameter, "type", "", ""},
		{"query checked for safety", siem, ResolveRequest{Query: "bad\x00query"}, nil, KindInvalidParameter, "query", "", ""},
		{"empty query", siem, ResolveRequest{Query: ""}, nil, KindInvalidParameter, "query", "", ""},
		{"outside scope", Identity{Client: "x", Environment: "prod", Providers: []string{"vt"}}, ResolveRequest{Query: "a"}, nil, KindForbidden, "", "", ""},
		{"upstream 400 is the client's to fix", siem, ResolveRequest{Query: "a", UpstreamType: "weird"}, rejected, "", "type", "weird", KindInvalidParameter},
		{"upstream 5xx is an outage", siem, ResolveRequest{Query: "a"}, &upstream.Error{Kind: upstream.KindUpstream, Status: 500}, "", "", "auto", KindUpstreamError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			caller := &fakeCaller{fn: func(name string, req provider.Request) (pipeline.Outcome, error) {
				if tc.answer != nil {
					return pipeline.Outcome{}, tc.answer
				}
				return pipeline.Outcome{Result: provider.Result{Data: json.RawMessage(`{"q":1}`)}}, nil
			}}
			s := newService(t, caller, nil, nil)
			res, err := s.Resolve(context.Background(), tc.id, tc.req)
			if tc.kind != "" {
				var f *Failure
				require.ErrorAs(t, err, &f)
				require.Equal(t, tc.kind, f.Kind)
				require.Equal(t, tc.parameter, f.Parameter)
				require.Empty(t, caller.calls)
				return
			}
			require.NoError(t, err)
			require.Len(t, caller.calls, 1)
			c := caller.calls[0]
			require.Equal(t, "socialeye", c.provider)
			require.Equal(t, tc.sentType, c.req.UpstreamType)
			require.Equal(t, tc.req.Query, c.req.Indicator.Value, "a drop-in forwards the query as sent")
			o := res.Outcomes[0]
			if tc.outcome != "" {
				require.Equal(t, tc.outcome, o.Failure.Kind)
				require.Equal(t, tc.parameter, o.Failure.Parameter)
				return
			}
			require.Equal(t, StatusOK, o.Status)
			require.JSONEq(t, `{"q":1}`, string(o.Data))
		})
	}
}

func TestResolveWithoutProvider(t *testing.T) {
	t.Parallel()
	s, err := New(Options{Providers: []provider.Provider{hashes}, Caller: &fakeCaller{}})
	require.NoError(t, err)
	_, err = s.Resolve(context.Background(), siem, ResolveRequest{Query: "a"})
	var f *Failure
	require.ErrorAs(t, err, &f)
	require.Equal(t, KindNotFound, f.Kind)
}

func TestNewRefusesInconsistentOptions(t *testing.T) {
	t.Parallel()
	_, err := New(Options{})
	require.ErrorContains(t, err, "Caller is required")
	_, err = New(Options{Caller: &fakeCaller{}, Providers: []provider.Provider{hashes, hashes}})
	require.ErrorContains(t, err, `duplicate provider "vt"`)
	_, err = New(Options{Caller: &fakeCaller{}, Providers: []provider.Provider{hashes}, ResolveProvider: "socialeye"})
	require.ErrorContains(t, err, `resolve provider "socialeye" is not configured`)
}
