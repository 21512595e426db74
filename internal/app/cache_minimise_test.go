package app

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/gateway"
	"github.com/intelgate/intelgate/internal/leak"
	"github.com/intelgate/intelgate/internal/sim"
)

// The integration tests of query minimisation, refresh, the cache's admin
// API and the metrics scrape (issue 8), on cache_test.go's cacheEnv.

// decodeProblem reads a problem+json body.
func decodeProblem(t *testing.T, r govResp) gateway.Problem {
	t.Helper()
	require.Equal(t, "application/problem+json", r.header.Get("Content-Type"), string(r.body))
	var p gateway.Problem
	require.NoError(t, json.Unmarshal(r.body, &p), string(r.body))
	return p
}

// requireNoForms fails when b holds any of values in any form the leak
// detector knows (raw, base64, hex).
func requireNoForms(t *testing.T, what string, b []byte, values ...string) {
	t.Helper()
	for _, v := range values {
		for _, f := range leak.Forms(v) {
			require.False(t, bytes.Contains(b, []byte(f)), "%s holds %q (as %q)", what, v, f)
		}
	}
}

// TestQueryMinimisationSendsNothing: what query minimisation withholds is
// answered at once — 422 naming the rule, never the value, on resolve; a
// withheld result on lookup — and never reaches the upstream, the cache
// or the client's quota.
func TestQueryMinimisationSendsNothing(t *testing.T) {
	t.Parallel()
	skipNearMidnightUTC(t)
	e := newCacheEnv(t, sim.Options{}, func(_ *cacheEnv, c *govCfg) {
		c.client = "    limits: {quotas: {day: 100}}\n"
		c.provider = "    never_send: {domain_suffixes: [corp.example.com]}\n"
	})
	const private = "never_send.cidrs[private]"
	cases := []struct {
		query  string
		header []string
		rule   string
		forms  []string // the value as sent and as normalised: in no answer or log
	}{
		{"10.1.2.3", nil, private, nil},
		{"10[.]1[.]2[.]3", nil, private, []string{"10.1.2.3"}},
		{"host.internal", nil, "never_send.domain_suffixes[local-domains]", nil},
		{"hxxp://10[.]0[.]0[.]1/x", nil, private, []string{"http://10.0.0.1/x", "10[.]0[.]0[.]1", "10.0.0.1"}},
		{"http://[fd00::1]/", nil, private, []string{"fd00::1"}},
		{"a.corp.example.com", nil, "providers.socialeye.never_send.domain_suffixes[0]", nil},
		{"johndoe-tlp-red", []string{"X-Intelgate-TLP", "red"}, "tlp", nil},
	}
	for _, tc := range cases {
		r := e.resolve(t, tc.query, tc.header...)
		govRequireProblem(t, r, http.StatusUnprocessableEntity, "indicator-withheld")
		p := decodeProblem(t, r)
		require.Contains(t, p.Detail, "rule "+tc.rule, "%s: the problem names the rule", tc.query)
		requireNoForms(t, "the problem for "+tc.query, r.body, append(tc.forms, tc.query)...)
	}
	res := e.lookup(t, "10.1.2.3")
	require.Equal(t, "withheld", res.Status)
	require.Equal(t, private, res.Rule)
	require.False(t, res.Cached)
	require.Nil(t, res.FetchedAt)
	require.Nil(t, res.Error)
	require.Equal(t, "null", string(res.Data))
	res = e.lookup(t, "8.8.4.4", "X-Intelgate-TLP", "amber+strict")
	require.Equal(t, "withheld", res.Status)
	require.Equal(t, "tlp", res.Rule)

	st := e.sim.Sim.Stats()
	require.Zero(t, st.Requests, "nothing withheld reached the upstream: %v", st.ByQuery)
	q := e.call(t, "siem", http.MethodGet, "/v1/quota", "")
	requireClientUsed(t, q, 0)
	require.Zero(t, e.cacheRecords(t), "nothing withheld is cached")
	for _, tc := range cases {
		requireNoForms(t, "the log", []byte(e.gw.logs.String()), append(tc.forms, tc.query)...)
	}

	// A suffix covers names below it on label boundaries only; a marking
	// within the provider's ceiling is sent.
	requireCached(t, e.resolve(t, "evilcorp.example.com"), "miss", -1)
	require.Equal(t, 1, e.calls("evilcorp.example.com"))
	requireCached(t, e.resolve(t, "johndoe-tlp-green", "X-Intelgate-TLP", "green"), "miss", -1)
	require.Equal(t, 1, e.calls("johndoe-tlp-green"))
	requireClientUsed(t, e.call(t, "siem", http.MethodGet, "/v1/quota", ""), 2)

	// A marking the gateway cannot read is the request's fault, named.
	r := e.resolve(t, "johndoe", "X-Intelgate-TLP", "purple")
	govRequireProblem(t, r, http.StatusBadRequest, "invalid-parameter")
	p := decodeProblem(t, r)
	require.Equal(t, "X-Intelgate-TLP", p.Parameter)
	require.Contains(t, p.Detail, "X-Intelgate-TLP")
	require.Zero(t, e.calls("johndoe"))
	requireClientUsed(t, e.call(t, "siem", http.MethodGet, "/v1/quota", ""), 2)

	// disable: [private] turns the built-in set off, globally; the other
	// built-in set stays on.
	open := newCacheEnv(t, sim.Options{}, func(_ *cacheEnv, c *govCfg) { c.top = "never_send: {disable: [private]}\n" })
	requireCached(t, open.resolve(t, "10.1.2.3"), "miss", -1)
	require.Equal(t, 1, open.calls("10.1.2.3"))
	govRequireProblem(t, open.resolve(t, "host.internal"), http.StatusUnprocessableEntity, "indicator-withheld")
	require.Zero(t, open.calls("host.internal"))
}

// requireClientUsed checks /v1/quota's day quota of the caller.
func requireClientUsed(t *testing.T, r govResp, used int) {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var q gateway.QuotaResponse
	require.NoError(t, json.Unmarshal(r.body, &q), string(r.body))
	require.NotNil(t, q.Client.Day, string(r.body))
	require.EqualValues(t, used, q.Client.Day.Used, "the client's day quota used")
}

// TestRefreshNeedsAllowRefresh: asking past the cache spends quota the
// cache exists to save, so only a client with allow_refresh may (others
// get 403 for refresh=true; their Cache-Control: no-cache is ignored); its
// refresh is a fresh call whose answer replaces the cached one.
func TestRefreshNeedsAllowRefresh(t *testing.T) {
	t.Parallel()
	e := newCacheEnv(t, sim.Options{}, func(e *cacheEnv, c *govCfg) {
		c.top = e.client(t, "analyst", "    allow_refresh: true\n")
	})
	requireCached(t, e.resolve(t, "johndoe"), "miss", -1)
	require.Equal(t, 1, e.lookupCalls(t, "8.8.4.4"))

	// refresh=true is the client's own ask: refused.
	for _, path := range []string{
		resolvePath("johndoe") + "&refresh=true",
		"/v1/lookup?indicator=8.8.4.4&refresh=true",
		"/v1/lookup?indicator=8.8.4.4&refresh=1",
	} {
		govRequireProblem(t, e.call(t, "siem", http.MethodGet, path, ""), http.StatusForbidden, "refresh-not-allowed")
	}
	// Cache-Control: no-cache, which HTTP libraries and proxies add on
	// their own, is ignored for such a client: a drop-in must keep
	// working behind them, and the answer is still the cached one.
	for _, cc := range []string{"no-cache", "max-age=0, No-Cache"} {
		requireCached(t, e.resolve(t, "johndoe", "Cache-Control", cc), "hit", 0)
		res := e.lookup(t, "8.8.4.4", "Cache-Control", cc)
		require.True(t, res.Cached, "Cache-Control %q", cc)
	}
	require.Equal(t, 1, e.calls("johndoe"), "no refused or ignored refresh makes an upstream call")
	require.Equal(t, 1, e.calls("8.8.4.4"))

	e.clk.Advance(time.Minute)
	r := e.call(t, "analyst", http.MethodGet, resolvePath("johndoe"), "", "Cache-Control", "no-cache")
	requireCached(t, r, "miss", -1)
	require.Equal(t, 2, e.calls("johndoe"), "a refresh asks the upstream")
	requireCached(t, e.call(t, "analyst", http.MethodGet, resolvePath("johndoe")+"&refresh=true", ""), "miss", -1)
	require.Equal(t, 3, e.calls("johndoe"))
	res := e.call(t, "analyst", http.MethodGet, "/v1/lookup?indicator=8.8.4.4&refresh=1", "")
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Contains(t, string(res.body), `"cached":false`)
	require.Equal(t, 2, e.calls("8.8.4.4"))

	// The refreshed answer replaced the cached one, for every client of
	// the environment.
	requireCached(t, e.resolve(t, "johndoe"), "hit", 0)
	requireCached(t, e.call(t, "analyst", http.MethodGet, resolvePath("johndoe")+"&refresh=false", ""), "hit", 0)
	require.Equal(t, 3, e.calls("johndoe"))
}

// lookupCalls looks ind up as siem (a miss) and returns the simulator's
// count for it.
func (e *cacheEnv) lookupCalls(t *testing.T, ind string) int {
	t.Helper()
	require.False(t, e.lookup(t, ind).Cached)
	return e.calls(ind)
}

// TestAdminEndpointsNeedAdmin: the cache purge and the metrics on the main
// listener are for admin clients; a purge removes what it selects, says
// how many, and refuses a body it cannot read without purging anything.
func TestAdminEndpointsNeedAdmin(t *testing.T) {
	t.Parallel()
	e := newCacheEnv(t, sim.Options{}, func(e *cacheEnv, c *govCfg) {
		c.top = e.client(t, "ops", "    admin: true\n")
	})
	const purge = "/admin/v1/cache/purge"
	jsonCT := []string{"Content-Type", "application/json"}
	for _, r := range []govResp{
		e.call(t, "siem", http.MethodPost, purge, "{}", jsonCT...),
		e.call(t, "siem", http.MethodGet, "/metrics", ""),
	} {
		govRequireProblem(t, r, http.StatusForbidden, "admin-required")
	}

	requireCached(t, e.resolve(t, "johndoe"), "miss", -1)
	requireCached(t, e.resolve(t, "janedoe"), "miss", -1)
	require.False(t, e.lookup(t, "example.org").Cached)
	require.Equal(t, 3, e.cacheRecords(t))
	requireCached(t, e.resolve(t, "johndoe"), "hit", 0) // the refused purge removed nothing

	requirePurged(t, e.call(t, "ops", http.MethodPost, purge, "{}", jsonCT...), 3)
	require.Zero(t, e.cacheRecords(t))
	requireCached(t, e.resolve(t, "johndoe"), "miss", -1)
	requireCached(t, e.resolve(t, "janedoe"), "miss", -1)
	require.False(t, e.lookup(t, "example.org").Cached)
	require.Equal(t, 2, e.calls("example.org"))

	// One indicator, as a client would type it: the lookup's entry of
	// example.org goes, nothing else.
	requirePurged(t, e.call(t, "ops", http.MethodPost, purge,
		`{"provider":"socialeye","indicator":"EXAMPLE[.]org"}`, jsonCT...), 1)
	require.False(t, e.lookup(t, "example.org").Cached)
	require.Equal(t, 3, e.calls("example.org"))
	requireCached(t, e.resolve(t, "johndoe"), "hit", 0)
	requireCached(t, e.resolve(t, "janedoe"), "hit", 0)

	bad := []struct {
		body, ct, slug, param string
	}{
		{`{"provider":"socialeye","everything":true}`, "application/json", "invalid-parameter", "body"},
		{`{} {}`, "application/json", "invalid-parameter", "body"},
		{`{"provider":"socialeye"}{"provider":"socialeye"}`, "application/json", "invalid-parameter", "body"},
		{`{}`, "text/plain", "invalid-parameter", "body"},
		{`[]`, "application/json", "invalid-parameter", "body"},
		{`{"provider":"nope"}`, "application/json", "unknown-provider", "provider"},
		{`{"indicator":"example.org"}`, "application/json", "invalid-parameter", "provider"},
	}
	for _, tc := range bad {
		r := e.call(t, "ops", http.MethodPost, purge, tc.body, "Content-Type", tc.ct)
		govRequireProblem(t, r, http.StatusBadRequest, tc.slug)
		p := decodeProblem(t, r)
		require.Equal(t, tc.param, p.Parameter, tc.body)
		require.True(t, strings.HasPrefix(p.Detail, tc.param+":"), "%s: detail %q names %s", tc.body, p.Detail, tc.param)
	}
	requireCached(t, e.resolve(t, "johndoe"), "hit", 0)
	require.Equal(t, 3, e.cacheRecords(t), "no refused purge removed anything")

	logs := e.gw.logs.String()
	admin := purgeRecords(t, logs, "admin")
	require.Len(t, admin, 2, logs)
	require.Equal(t, "ops", admin[0]["by"])
	require.Equal(t, "(all)", admin[0]["provider"])
	require.Equal(t, true, admin[1]["indicator"])
	require.NotContains(t, logs, "example.org", "a purge logs whether it named an indicator, never which")
	require.NotContains(t, logs, "EXAMPLE[.]org")

	m := e.call(t, "ops", http.MethodGet, "/metrics", "")
	require.Equal(t, http.StatusOK, m.status, string(m.body))
}

// requirePurged checks a purge's answer.
func requirePurged(t *testing.T, r govResp, n int) {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var got map[string]any
	require.NoError(t, json.Unmarshal(r.body, &got), string(r.body))
	require.Equal(t, map[string]any{"purged": float64(n)}, got)
}

// metricsTraffic makes hits, misses, a withheld lookup and an error, and
// returns the indicators it asked about.
func metricsTraffic(t *testing.T, e *cacheEnv) []string {
	t.Helper()
	requireCached(t, e.resolve(t, "metrics-miss-qz"), "miss", -1)
	requireCached(t, e.resolve(t, "metrics-miss-qz"), "hit", 0)
	require.False(t, e.lookup(t, "metrics-lookup-qz.example.com").Cached)
	require.True(t, e.lookup(t, "metrics-lookup-qz.example.com").Cached)
	govRequireProblem(t, e.resolve(t, "10.77.66.55"), http.StatusUnprocessableEntity, "indicator-withheld")
	govRequireProblem(t, e.resolve(t, sim.ForbiddenPrefix+"-metrics-qz"), http.StatusBadGateway, "upstream-auth")
	return []string{"metrics-miss-qz", "metrics-lookup-qz.example.com", "10.77.66.55", sim.ForbiddenPrefix + "-metrics-qz"}
}

// requireScrape checks a scrape holds the request path's metrics and none
// of the secrets, in any form.
func requireScrape(t *testing.T, e *cacheEnv, r govResp, indicators []string) {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.True(t, strings.HasPrefix(r.header.Get("Content-Type"), "text/plain"), r.header.Get("Content-Type"))
	secrets := append([]string{simKey}, indicators...)
	for name := range e.tokens {
		secrets = append(secrets, e.tokens[name], e.hashes[name])
	}
	requireNoForms(t, "the scrape", r.body, secrets...)
	want := map[string][]string{ // metric name → label pairs one of its lines must hold
		"intelgate_http_requests_total":    {`route="GET /v1/resolve"`},
		"intelgate_lookups_total":          {`cache="hit"`, `operation="resolve"`, `status="ok"`},
		"intelgate_lookups_withheld_total": {`provider="socialeye"`, `rule="never_send.cidrs[private]"`},
		"intelgate_cache_reads_total":      {`outcome="hit"`, `tier="memory"`},
		"intelgate_cache_writes_total":     {`tier="durable"`},
		"intelgate_lookup_errors_total":    {`kind="upstream-auth"`},
	}
	found := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	for sc.Scan() {
		name, labels, ok := strings.Cut(sc.Text(), "{")
		if !ok || want[name] == nil {
			continue
		}
		all := true
		for _, l := range want[name] {
			all = all && strings.Contains(labels, l)
		}
		found[name] = found[name] || all
	}
	require.NoError(t, sc.Err())
	for name := range want {
		require.True(t, found[name], "no %s line with %v in:\n%s", name, want[name], r.body)
	}
}

// TestMetricsScrapeHoldsNoSecrets: /metrics — on the main listener for
// admins, or on server.metrics_listen without a token — reports the
// request path by route, cache source and rule, and holds no indicator,
// token, token hash or upstream key.
func TestMetricsScrapeHoldsNoSecrets(t *testing.T) {
	t.Parallel()
	t.Run("main listener", func(t *testing.T) {
		t.Parallel()
		e := newCacheEnv(t, sim.Options{}, func(e *cacheEnv, c *govCfg) {
			c.top = e.client(t, "ops", "    admin: true\n")
		})
		require.Empty(t, e.gw.app.MetricsAddr())
		indicators := metricsTraffic(t, e)
		requireScrape(t, e, e.call(t, "ops", http.MethodGet, "/metrics", ""), indicators)
	})
	t.Run("metrics_listen", func(t *testing.T) {
		t.Parallel()
		e := newCacheEnv(t, sim.Options{}, func(e *cacheEnv, c *govCfg) {
			// Not 127.0.0.1:0: validation compares it with server.listen
			// as text, and the harness's listen is 127.0.0.1:0.
			c.server = `metrics_listen: "localhost:0"`
			c.top = e.client(t, "ops", "    admin: true\n")
		})
		addr := e.gw.app.MetricsAddr()
		require.NotEmpty(t, addr)
		indicators := metricsTraffic(t, e)
		r, err := e.send("http://"+addr, "", http.MethodGet, "/metrics", "")
		require.NoError(t, err)
		requireScrape(t, e, r, indicators)
		// Served there, it is not served on the main listener, even to
		// an admin.
		m := e.call(t, "ops", http.MethodGet, "/metrics", "")
		require.Equal(t, http.StatusNotFound, m.status, string(m.body))
	})
}
