package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/client"
	"github.com/intelgate/intelgate/internal/gateway"
	"github.com/intelgate/intelgate/internal/sim"
)

// strictDecode decodes body into v refusing fields v does not have: a
// field the server sends and the SDK does not know is drift between them.
func strictDecode(t *testing.T, body []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(v), "the SDK's %T does not match what the server sends:\n%s", v, body)
}

// problemFields are the members of a problem the SDK's *client.Error holds,
// each with the field that holds it.
var problemFields = map[string]func(*client.Error) any{
	"type":       func(e *client.Error) any { return e.Type },
	"title":      func(e *client.Error) any { return e.Title },
	"status":     func(e *client.Error) any { return e.Status },
	"detail":     func(e *client.Error) any { return e.Detail },
	"request_id": func(e *client.Error) any { return e.RequestID },
	"parameter":  func(e *client.Error) any { return e.Parameter },
}

// sdkProblemExclusions are the problem types of gateway.ProblemTypes that
// no client can be shown reading, and why.
var sdkProblemExclusions = map[string]string{
	"admin-required": "only the administrative endpoints (cache purge, /metrics on the main listener) send it, and " +
		"the application SDK has none; TestAdminEndpointsNeedAdmin reads it from a real gateway",
	"conflict": "only POST /admin/v1/reload sends it (another reload is running), an administrative endpoint " +
		"the application SDK does not call; TestReloadAdminAPI provokes it from a real gateway",
	"reload-refused": "only POST /admin/v1/reload sends it; TestReloadAdminAPI reads it from a real gateway",
	"invalid-signature": "only POST /v1/webhooks/{provider} sends it, which a provider calls, not an application; " +
		"TestProviderWebhookEndToEnd reads it from a real gateway",
	"client-closed": "499 is written after the caller has gone, for the access log: no client is left to read it",
	"internal": "only a bug sends it: every error the call chain returns is classified (upstream, governor, " +
		"breaker, unsafe input, context; store failures are unavailable), config refuses the empty secret " +
		"that would reach the provider's no-key error, and what remains is recovered panics — no request " +
		"or configuration provokes it from outside",
}

// TestSDKDecodesRealServerResponses pins the public SDK's wire types to
// what the server really sends — not to hand-written fixtures: resolve,
// lookup (ok, not_found and error results), quota, a bulk job's status and
// results, and every problem type a client can meet, each provoked through
// a real gateway and simulator and read by the SDK itself.
func TestSDKDecodesRealServerResponses(t *testing.T) {
	t.Parallel()
	t.Run("resolve, lookup and quota", func(t *testing.T) {
		t.Parallel()
		sdkDecodesAnswers(t)
	})
	t.Run("jobs", func(t *testing.T) {
		t.Parallel()
		sdkDecodesJobs(t)
	})
	for _, g := range sdkProblemGateways() {
		t.Run("problems/"+g.name, func(t *testing.T) {
			t.Parallel()
			e := startProblemEnv(t, g)
			for _, p := range g.cases {
				t.Run(p.slug, func(t *testing.T) {
					e.wire.reset()
					err := p.call(t, e)
					requireSDKProblem(t, p, err, e.wire.last(t))
				})
			}
		})
	}
}

// TestSDKProblemCasesCoverEveryProblemType: every problem type the gateway
// defines is provoked once above, or excluded here with its reason.
func TestSDKProblemCasesCoverEveryProblemType(t *testing.T) {
	t.Parallel()
	var got []string
	for _, g := range sdkProblemGateways() {
		for _, p := range g.cases {
			got = append(got, p.slug)
		}
	}
	for slug, why := range sdkProblemExclusions {
		require.NotEmpty(t, why, slug)
		got = append(got, slug)
	}
	slices.Sort(got) // a slug both provoked and excluded, or provoked twice, shows as a duplicate
	require.Equal(t, gateway.ProblemTypes(), got)
}

func sdkDecodesAnswers(t *testing.T) {
	s, gw, raw, token := e2e(t, sim.Options{}, func(*sim.Server) govCfg {
		return govCfg{client: "    limits: {rate: 1000/s, quotas: {day: 100000}}\n"}
	})
	ctx := t.Context()
	sdk, err := client.New(gw.url, token, client.WithMaxAttempts(1))
	require.NoError(t, err)

	// resolve
	res, err := sdk.Resolve(ctx, "johndoe", "")
	require.NoError(t, err)
	require.Equal(t, client.CacheMiss, res.Cache)
	require.NotEmpty(t, res.RequestID)
	var obj map[string]any
	require.NoError(t, json.Unmarshal(res.Data, &obj), "the upstream's JSON object")

	// lookup: one provider ok, then not found
	for _, ind := range []string{"8.8.8.8", "notfound-alice"} {
		r := raw.get(t, gw.url, "/v1/lookup?indicator="+ind)
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		var strict client.LookupResponse
		strictDecode(t, r.body, &strict)
		lr, err := sdk.Lookup(ctx, ind, nil)
		require.NoError(t, err)
		require.Len(t, lr.Results, 1)
		require.Equal(t, strict.Results[0].Status, lr.Results[0].Status)
	}
	// lookup: a provider error (the upstream fails)
	s.Sim.SetFaults(sim.Faults{ErrorRate: 1})
	r := raw.get(t, gw.url, "/v1/lookup?indicator=8.8.4.4")
	var failed client.LookupResponse
	strictDecode(t, r.body, &failed)
	require.Equal(t, client.StatusError, failed.Results[0].Status)
	require.Equal(t, http.StatusBadGateway, failed.Results[0].Error.Status)
	s.Sim.SetFaults(sim.Faults{})

	// quota
	r = raw.get(t, gw.url, "/v1/quota")
	var quota client.QuotaResponse
	strictDecode(t, r.body, &quota)
	q, err := sdk.Quota(ctx)
	require.NoError(t, err)
	require.Equal(t, "siem", q.Client.Name)
	require.NotNil(t, q.Client.Rate)
	require.Equal(t, 1000, q.Client.Rate.Rate)
	require.Equal(t, quota.Providers, q.Providers)
}

// sdkDecodesJobs submits a job through the SDK (and again, replayed),
// waits for it, and reads its results page by page, every answer also
// decoded strictly from the wire.
func sdkDecodesJobs(t *testing.T) {
	_, gw, raw, token := e2e(t, sim.Options{}, func(*sim.Server) govCfg {
		return govCfg{top: "jobs: {max_items: 10, poll_interval: 50ms}\n"}
	})
	wire := &wireLog{}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	sdk, err := client.New(gw.url, token, client.WithMaxAttempts(1),
		client.WithHTTPClient(&http.Client{Transport: &wireTransport{base: tr, log: wire}, Timeout: 30 * time.Second}))
	require.NoError(t, err)
	// The deadline only bounds a broken queue.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	inds := []string{"sdk-1.example.org", "sdk-2.example.org", "not an indicator"}
	opts := client.JobOptions{Providers: []string{"socialeye"}, TLP: "green", IdempotencyKey: "sdk-decode-1"}
	job, err := sdk.SubmitJob(ctx, inds, opts)
	require.NoError(t, err)
	var strict client.Job
	strictDecode(t, wire.last(t).body, &strict)
	require.Equal(t, strict.ID, job.ID)
	require.Equal(t, 3, job.Total)
	require.Equal(t, "green", job.TLP)
	require.Equal(t, []string{"socialeye"}, job.Providers)
	require.Equal(t, "/v1/jobs/"+job.ID+"/results", job.Results)
	require.False(t, job.Replayed)

	again, err := sdk.SubmitJob(ctx, inds, opts)
	require.NoError(t, err)
	require.True(t, again.Replayed, "Idempotent-Replayed")
	require.Equal(t, job.ID, again.ID)

	done, err := sdk.WaitJob(ctx, job.ID, 50*time.Millisecond, nil)
	require.NoError(t, err)
	require.Equal(t, client.JobDone, done.Status)
	require.Equal(t, client.JobCounts{Done: 2, Failed: 1}, done.Counts)
	require.NotNil(t, done.FinishedAt)
	r := raw.get(t, gw.url, "/v1/jobs/"+job.ID)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	strictDecode(t, r.body, &strict)

	// One item a page: the SDK follows two next links.
	var lines []client.JobResultLine
	for l, err := range sdk.JobResults(ctx, job.ID, 1) {
		require.NoError(t, err)
		var line client.JobResultLine
		strictDecode(t, l.Raw, &line)
		lines = append(lines, l)
	}
	require.Len(t, lines, 3)
	for i, l := range lines {
		require.Equal(t, i+1, l.Item)
		if l.Indicator == "not an indicator" {
			require.Equal(t, client.ItemFailed, l.State)
			require.Nil(t, l.Provider, "no provider answered")
			require.Equal(t, client.ProblemTypeBase+"invalid-parameter", l.Error.Type)
			continue
		}
		require.Equal(t, client.ItemDone, l.State)
		require.Equal(t, "socialeye", *l.Provider)
		require.Equal(t, client.StatusOK, l.Status)
		require.NotNil(t, l.FetchedAt)
		require.NotEmpty(t, l.Data)
	}

	_, err = sdk.Job(ctx, "job_nope")
	require.True(t, client.IsNotFound(err), "%v", err)
	n := 0
	for _, err := range sdk.JobResults(ctx, "job_nope", 0) {
		require.True(t, client.IsNotFound(err), "%v", err)
		n++
	}
	require.Equal(t, 1, n, "the 404 is yielded once")
}

// requireSDKProblem checks that the SDK read the problem on the wire
// whole: every member the server sent is one client.Error holds, with the
// same value; the slug, status and parameter are the case's; the request
// id is there; and a Retry-After (always sent with 429 and 503) is decoded.
func requireSDKProblem(t *testing.T, p sdkProblem, err error, wire govResp) {
	t.Helper()
	e, ok := client.AsError(err)
	require.True(t, ok, "want *client.Error, got %v", err)
	require.Equal(t, p.status, wire.status, string(wire.body))
	require.Equal(t, "application/problem+json", wire.header.Get("Content-Type"))
	require.Equal(t, p.status, e.Status)
	require.Equal(t, p.slug, e.Slug(), e.Detail)
	require.Equal(t, p.param, e.Parameter)
	require.NotEmpty(t, e.RequestID)
	require.Equal(t, wire.header.Get("X-Request-Id"), e.RequestID)

	var members map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(wire.body, &members), string(wire.body))
	for k, v := range members {
		field, ok := problemFields[k]
		require.True(t, ok, "the server sends problem member %q, which client.Error does not hold", k)
		held, err := json.Marshal(field(e))
		require.NoError(t, err)
		require.JSONEq(t, string(v), string(held), "member %q as the SDK holds it", k)
	}

	ra := wire.header.Get("Retry-After")
	if p.status == http.StatusTooManyRequests || p.status == http.StatusServiceUnavailable {
		require.NotEmpty(t, ra, "429 and 503 always say when to come back")
	}
	if ra == "" {
		require.Zero(t, e.RetryAfter)
		return
	}
	n, err := strconv.Atoi(ra)
	require.NoError(t, err, "Retry-After must be delta-seconds: %q", ra)
	require.Positive(t, n)
	require.Equal(t, time.Duration(n)*time.Second, e.RetryAfter)
}

// sdkProblem is one problem type provoked through a real gateway.
type sdkProblem struct {
	slug   string
	status int
	param  string // the Parameter the SDK must read
	// call makes the SDK request whose answer is the problem (after any
	// requests that set it up, which must succeed).
	call func(t *testing.T, e *problemEnv) error
}

// problemGateway is one gateway configuration and the problems provoked
// through it, in order.
type problemGateway struct {
	name  string
	sim   sim.Options
	cfg   func(t *testing.T, e *problemEnv) govCfg // nil: the harness defaults
	cases []sdkProblem
}

// sdkProblemGateways are the gateways of the problem cases: one shared by
// the problems a request or a client's config provokes, and one per
// upstream failure or per setting that would disturb the others.
func sdkProblemGateways() []problemGateway {
	gws := []problemGateway{{name: "shared", cfg: sharedProblemConfig, cases: sharedProblems()}}
	gws = append(gws, upstreamProblemGateways()...)
	return append(gws, limitProblemGateways()...)
}

// upstreamProblemGateways are the problems a failing upstream becomes on
// /v1/resolve, one gateway each.
func upstreamProblemGateways() []problemGateway {
	resolve := func(t *testing.T, e *problemEnv) error {
		_, err := e.sdk(t, e.tokens["siem"], nil).Resolve(t.Context(), "johndoe", "")
		return err
	}
	cases := []struct {
		slug   string
		status int
		sim    sim.Faults
		edit   func(*govCfg) // nil: the harness defaults
	}{
		{"upstream-tls", http.StatusBadGateway, sim.Faults{}, func(c *govCfg) {
			c.tls = fmt.Sprintf(`{ca_file: ca.pem, pins: ["sha256/%s="]}`, strings.Repeat("A", 43))
		}},
		// A reset rather than a closed port: a freed port could be taken by
		// another test's listener, and the answer would become upstream-tls.
		{"upstream-unavailable", http.StatusBadGateway, sim.Faults{ResetRate: 1}, nil},
		{"upstream-invalid-response", http.StatusBadGateway, sim.Faults{MalformedRate: 1}, nil},
		{"upstream-error", http.StatusBadGateway, sim.Faults{ErrorRate: 1}, nil},
		// The simulator holds every answer for a minute, so only the
		// gateway's 1s timeout (room for a TLS handshake on a loaded
		// machine) can end the call.
		{"upstream-timeout", http.StatusGatewayTimeout, sim.Faults{Latency: time.Minute}, func(c *govCfg) { c.timeout = "1s" }},
		// The key is refused (401), the auth check confirms it and revokes
		// it, and no other key is left.
		{"unavailable", http.StatusServiceUnavailable, sim.Faults{}, func(c *govCfg) {
			c.keys = []govKey{{"prod-1", "revoked-key"}}
		}},
	}
	var gws []problemGateway
	for _, tc := range cases {
		cfg := func(*testing.T, *problemEnv) govCfg {
			// One attempt: what is under test is the problem a failure
			// becomes, not the retry policy.
			c := govCfg{provider: "    retry: {max_attempts: 1}\n"}
			if tc.edit != nil {
				tc.edit(&c)
			}
			return c
		}
		gws = append(gws, problemGateway{name: tc.slug, sim: sim.Options{Faults: tc.sim}, cfg: cfg,
			cases: []sdkProblem{{slug: tc.slug, status: tc.status, call: resolve}}})
	}
	return gws
}

// limitProblemGateways are the limits that need settings of their own:
// each is reached by a request that succeeds (or fails once) and the
// problem is the next answer.
func limitProblemGateways() []problemGateway {
	return []problemGateway{
		// The provider's one unit an hour is spent by the first resolve;
		// the next is an hour away, past max_wait, so answered at once.
		{name: "upstream-rate-limited", cfg: func(*testing.T, *problemEnv) govCfg {
			return govCfg{provider: "    limits: {rate: 1/h, max_wait: 1ms}\n"}
		}, cases: []sdkProblem{{slug: "upstream-rate-limited", status: http.StatusTooManyRequests,
			call: func(t *testing.T, e *problemEnv) error {
				sdk := e.sdk(t, e.tokens["siem"], nil)
				_, err := sdk.Resolve(t.Context(), "johndoe", "")
				require.NoError(t, err, "the provider's one unit")
				_, err = sdk.Resolve(t.Context(), "janedoe", "")
				return err
			}}}},
		// One failure blocks the source; the window is an hour so that it
		// cannot end between the two requests.
		{name: "too-many-auth-failures", cfg: func(*testing.T, *problemEnv) govCfg {
			return govCfg{server: "auth_failures: {max: 1, window: 1h}"}
		}, cases: []sdkProblem{{slug: "too-many-auth-failures", status: http.StatusTooManyRequests,
			call: func(t *testing.T, e *problemEnv) error {
				bad := e.sdk(t, "igt_"+"not-the-token", nil)
				_, err := bad.Quota(t.Context())
				require.True(t, client.IsUnauthenticated(err), "the first failure is counted: %v", err)
				_, err = bad.Quota(t.Context())
				return err
			}}}},
	}
}

// sharedMaxBodyBytes is the shared gateway's server.max_body_bytes: small,
// so that the request-too-large case need not send much.
const sharedMaxBodyBytes = 1 << 10

// sharedMaxJobItems is the shared gateway's jobs.max_items.
const sharedMaxJobItems = 3

// sharedProblemConfig adds to the harness config: a small request body
// limit; a second provider, narrow, that answers usernames only; the
// clients outsider (source_cidrs without loopback), metered (one request
// an hour) and scoped (narrow only, not socialeye); and small jobs.
func sharedProblemConfig(t *testing.T, e *problemEnv) govCfg {
	// The fragment ends socialeye's block and opens narrow's, a sibling
	// under providers:, reusing socialeye's key file and CA.
	narrow := fmt.Sprintf("  narrow:\n    kind: socialeye\n    base_url: %s\n"+
		"    keys: [{id: narrow-1, secret: \"file:prod-1.key\"}]\n"+
		"    tls: {ca_file: ca.pem, pins: [%q]}\n    timeout: 5s\n    types: [username]\n", e.sim.URL, e.sim.Pin)
	return govCfg{
		server:   fmt.Sprintf("max_body_bytes: %d", sharedMaxBodyBytes),
		provider: narrow,
		top: e.client(t, "outsider", "    providers: [socialeye]\n    source_cidrs: [10.0.0.0/8]\n") +
			e.client(t, "metered", "    providers: [socialeye]\n    limits: {rate: 1/h}\n") +
			e.client(t, "scoped", "    providers: [narrow]\n") +
			fmt.Sprintf("jobs: {max_items: %d, poll_interval: 50ms}\n", sharedMaxJobItems),
	}
}

// sharedProblems are the problems provoked through the shared gateway.
func sharedProblems() []sdkProblem {
	siem := func(t *testing.T, e *problemEnv) *client.Client { return e.sdk(t, e.tokens["siem"], nil) }
	return []sdkProblem{
		{"unauthenticated", http.StatusUnauthorized, "", func(t *testing.T, e *problemEnv) error {
			_, err := e.sdk(t, "igt_"+"not-the-token", nil).Quota(t.Context())
			return err
		}},
		{"invalid-parameter", http.StatusBadRequest, "type", func(t *testing.T, e *problemEnv) error {
			_, err := siem(t, e).Lookup(t.Context(), "8.8.8.8", &client.LookupOptions{Type: "nonsense"})
			return err
		}},
		{"unknown-provider", http.StatusBadRequest, "providers", func(t *testing.T, e *problemEnv) error {
			_, err := siem(t, e).Lookup(t.Context(), "8.8.8.8", &client.LookupOptions{Providers: []string{"nope"}})
			return err
		}},
		{"not-found", http.StatusNotFound, "", func(t *testing.T, e *problemEnv) error {
			_, err := siem(t, e).Resolve(t.Context(), "notfound-bob", "")
			return err
		}},
		{"unsupported-type", http.StatusBadRequest, "", func(t *testing.T, e *problemEnv) error {
			_, err := e.sdk(t, e.tokens["scoped"], nil).Lookup(t.Context(), "8.8.8.8", nil)
			return err
		}},
		{"forbidden", http.StatusForbidden, "", func(t *testing.T, e *problemEnv) error {
			_, err := e.sdk(t, e.tokens["scoped"], nil).Resolve(t.Context(), "johndoe", "")
			return err
		}},
		{"source-not-allowed", http.StatusForbidden, "", func(t *testing.T, e *problemEnv) error {
			_, err := e.sdk(t, e.tokens["outsider"], nil).Quota(t.Context())
			return err
		}},
		{"rate-limited", http.StatusTooManyRequests, "", func(t *testing.T, e *problemEnv) error {
			sdk := e.sdk(t, e.tokens["metered"], nil)
			_, err := sdk.Resolve(t.Context(), "johndoe", "")
			require.NoError(t, err, "the client's one request an hour")
			_, err = sdk.Resolve(t.Context(), "janedoe", "")
			return err
		}},
		// The simulator answers 403 for a plan-restricted query with a
		// valid key: a refusal about the resource, which never revokes.
		{"upstream-auth", http.StatusBadGateway, "", func(t *testing.T, e *problemEnv) error {
			_, err := siem(t, e).Resolve(t.Context(), sim.ForbiddenPrefix+"-dossier", "")
			return err
		}},
		// The SDK only sends GET without a body; its requests are rewritten
		// on the way out, and the answer is read by the SDK as any other.
		{"method-not-allowed", http.StatusMethodNotAllowed, "", func(t *testing.T, e *problemEnv) error {
			_, err := e.sdk(t, e.tokens["siem"], func(r *http.Request) { r.Method = http.MethodPost }).Quota(t.Context())
			return err
		}},
		// The built-in never_send set "private": a 10.x address is never
		// sent to a vendor.
		{"indicator-withheld", http.StatusUnprocessableEntity, "", func(t *testing.T, e *problemEnv) error {
			_, err := siem(t, e).Resolve(t.Context(), "10[.]20[.]30[.]40", "")
			return err
		}},
		{"refresh-not-allowed", http.StatusForbidden, "", func(t *testing.T, e *problemEnv) error {
			_, err := siem(t, e).Lookup(t.Context(), "8.8.8.8", &client.LookupOptions{Refresh: true})
			return err
		}},
		{"too-many-items", http.StatusRequestEntityTooLarge, "", func(t *testing.T, e *problemEnv) error {
			inds := make([]string, sharedMaxJobItems+1)
			for i := range inds {
				inds[i] = fmt.Sprintf("many-%d.example", i)
			}
			_, err := siem(t, e).SubmitJob(t.Context(), inds, client.JobOptions{})
			return err
		}},
		{"idempotency-key-reused", http.StatusUnprocessableEntity, "", func(t *testing.T, e *problemEnv) error {
			sdk := siem(t, e)
			opts := client.JobOptions{IdempotencyKey: "sdk-problem-reused"}
			_, err := sdk.SubmitJob(t.Context(), []string{"first.example"}, opts)
			require.NoError(t, err, "the key's first submission")
			_, err = sdk.SubmitJob(t.Context(), []string{"second.example"}, opts)
			return err
		}},
		{"request-too-large", http.StatusRequestEntityTooLarge, "", func(t *testing.T, e *problemEnv) error {
			body := make([]byte, sharedMaxBodyBytes+1)
			_, err := e.sdk(t, e.tokens["siem"], func(r *http.Request) {
				r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
			}).Quota(t.Context())
			return err
		}},
	}
}

// problemEnv is one running gateway of the problem cases.
type problemEnv struct {
	sim    *sim.Server
	url    string
	tokens map[string]string // client name → token; "siem" is the harness's client
	tr     *http.Transport
	wire   *wireLog
}

func startProblemEnv(t *testing.T, g problemGateway) *problemEnv {
	t.Helper()
	s := startGovSim(t, g.sim)
	token, hash := newGovToken(t)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	e := &problemEnv{sim: s, tokens: map[string]string{"siem": token}, tr: tr, wire: &wireLog{}}
	var c govCfg
	if g.cfg != nil {
		c = g.cfg(t, e)
	}
	e.url = runGovApp(t, writeGovConfig(t, t.TempDir(), s, hash, c)).url
	return e
}

// client returns the YAML of one more client (its lines indented by four
// spaces) and keeps its token.
func (e *problemEnv) client(t *testing.T, name, lines string) string {
	t.Helper()
	token, hash := newGovToken(t)
	e.tokens[name] = token
	return fmt.Sprintf("  %s:\n    token_sha256: %s\n%s", name, hash, lines)
}

// sdk is an SDK client with token whose answers are also kept in e.wire,
// and whose requests are first changed by edit, if set. It makes one
// attempt: a retry would answer with the next attempt's problem.
func (e *problemEnv) sdk(t *testing.T, token string, edit func(*http.Request)) *client.Client {
	t.Helper()
	hc := &http.Client{
		Transport: &wireTransport{base: e.tr, log: e.wire, edit: edit},
		// Bounds a hung gateway; every answer here comes within the
		// slowest case's 1s upstream timeout.
		Timeout: 30 * time.Second,
	}
	c, err := client.New(e.url, token, client.WithMaxAttempts(1), client.WithHTTPClient(hc))
	require.NoError(t, err)
	return c
}

// wireLog keeps the last answer a gateway sent, as it was on the wire.
type wireLog struct {
	mu   sync.Mutex
	resp *govResp
}

func (w *wireLog) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.resp = nil
}

func (w *wireLog) set(r govResp) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.resp = &r
}

func (w *wireLog) last(t *testing.T) govResp {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	require.NotNil(t, w.resp, "no answer reached the SDK")
	return *w.resp
}

// wireTransport records each answer's status, headers and body before the
// SDK reads them, so a test checks the very answer the SDK decoded.
type wireTransport struct {
	base http.RoundTripper
	log  *wireLog
	edit func(*http.Request)
}

func (w *wireTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if w.edit != nil {
		r = r.Clone(r.Context()) // a RoundTripper must not change its caller's request
		w.edit(r)
	}
	resp, err := w.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	w.log.set(govResp{status: resp.StatusCode, header: resp.Header.Clone(), body: body})
	return resp, nil
}

var _ http.RoundTripper = (*wireTransport)(nil)
