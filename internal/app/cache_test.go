package app

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/cache"
	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/gateway"
	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/leak"
	"github.com/intelgate/intelgate/internal/observe"
	"github.com/intelgate/intelgate/internal/observe/observetest"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/sim"
)

// The integration tests of the cache (issue 8), on the governance harness:
// a simulator over real TLS, gateways built by New from real config files
// on real SQLite files, everything through real HTTP. Each gateway reads a
// fake clock for its cache, lookup service, store and Age header
// (Options.Clock), so TTLs and stale_if_error pass without sleeping; the
// governor and the breaker keep the wall clock.

// cacheEnv is one cached gateway over its own simulator and config dir.
type cacheEnv struct {
	sim    *sim.Server
	dir    string // the config dir: intelgate.yaml, state.db, the key files
	cfg    string // the config file
	clk    *clocktest.Clock
	obs    observe.Observer // given to every start; set by the edit function
	gw     *govApp
	tokens map[string]string // client name → token; siem is the harness's client
	hashes map[string]string // client name → token_sha256
	http   *http.Client
}

// newCacheEnv writes a config for a new simulator — socialeye cached with
// ttl 1h unless edit says otherwise — and starts a gateway on it. edit may
// add clients (e.client) and set e.obs.
func newCacheEnv(t *testing.T, o sim.Options, edit func(e *cacheEnv, c *govCfg)) *cacheEnv {
	t.Helper()
	s := startGovSim(t, o)
	token, hash := newGovToken(t)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	e := &cacheEnv{sim: s, dir: t.TempDir(), tokens: map[string]string{"siem": token}, hashes: map[string]string{"siem": hash},
		// Today on the wall clock, so that the governor's quota windows
		// (wall clock) and the store's view of them (this clock) agree.
		clk:  clocktest.New(time.Now().UTC().Truncate(time.Second)),
		http: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
	c := govCfg{cache: "{ttl: 1h}"}
	if edit != nil {
		edit(e, &c)
	}
	e.cfg = writeGovConfig(t, e.dir, s, hash, c)
	e.start(t)
	return e
}

func (e *cacheEnv) start(t *testing.T) {
	t.Helper()
	e.gw = runGovAppWith(t, e.cfg, Options{Clock: e.clk, Observer: e.obs})
}

// restart stops the gateway and starts a new one on the same config dir
// (the same SQLite file and key file) and clock.
func (e *cacheEnv) restart(t *testing.T) {
	t.Helper()
	e.gw.stop()
	e.start(t)
}

// client returns the YAML of one more client (lines indented by four
// spaces; loopback sources and socialeye are added) and keeps its token.
func (e *cacheEnv) client(t *testing.T, name, lines string) string {
	t.Helper()
	token, hash := newGovToken(t)
	e.tokens[name], e.hashes[name] = token, hash
	return fmt.Sprintf("  %s:\n    token_sha256: %s\n    providers: [socialeye]\n    source_cidrs: [127.0.0.0/8]\n%s",
		name, hash, lines)
}

// send makes one request as client, with header name/value pairs. It
// returns an error rather than failing the test, for other goroutines.
func (e *cacheEnv) send(base, client, method, path, body string, header ...string) (govResp, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return govResp{}, err
	}
	if client != "" {
		req.Header.Set("Authorization", "Bearer "+e.tokens[client])
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return govResp{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return govResp{}, fmt.Errorf("reading %s: %w", path, err)
	}
	if bytes.Contains(b, []byte(simKey)) || bytes.Contains(b, []byte(simKey2)) {
		return govResp{}, fmt.Errorf("%s %s: the upstream key reached a client", method, path)
	}
	return govResp{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// call is send to the gateway on the test's goroutine.
func (e *cacheEnv) call(t *testing.T, client, method, path, body string, header ...string) govResp {
	t.Helper()
	r, err := e.send(e.gw.url, client, method, path, body, header...)
	require.NoError(t, err)
	return r
}

func resolvePath(query string) string { return "/v1/resolve?" + url.Values{"query": {query}}.Encode() }

// resolve is GET /v1/resolve?query=query as siem.
func (e *cacheEnv) resolve(t *testing.T, query string, header ...string) govResp {
	t.Helper()
	return e.call(t, "siem", http.MethodGet, resolvePath(query), "", header...)
}

// lookup is GET /v1/lookup of ind as siem; it returns socialeye's result.
func (e *cacheEnv) lookup(t *testing.T, ind string, header ...string) gateway.LookupResult {
	t.Helper()
	r := e.call(t, "siem", http.MethodGet, "/v1/lookup?"+url.Values{"indicator": {ind}}.Encode(), "", header...)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var lr gateway.LookupResponse
	require.NoError(t, json.Unmarshal(r.body, &lr), string(r.body))
	require.Len(t, lr.Results, 1, string(r.body))
	require.Equal(t, "socialeye", lr.Results[0].Provider)
	return lr.Results[0]
}

// calls is how many requests the simulator received for query.
func (e *cacheEnv) calls(query string) int { return e.sim.Sim.Stats().ByQuery[query] }

// cacheRecords counts the rows of the SQLite file's cache_records table,
// read through a connection of the test's own.
func (e *cacheEnv) cacheRecords(t *testing.T) int {
	t.Helper()
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(e.dir, "state.db")),
		RawQuery: url.Values{"mode": {"ro"}, "_busy_timeout": {"5000"}}.Encode()}
	db, err := sql.Open("sqlite", u.String())
	require.NoError(t, err)
	defer db.Close()
	var n int
	require.NoError(t, db.QueryRowContext(t.Context(), "SELECT count(*) FROM cache_records").Scan(&n))
	return n
}

// requireCached checks a /v1/resolve answer: 200, X-Intelgate-Cache
// state, and Age in seconds (-1: no Age header, as on a miss).
func requireCached(t *testing.T, r govResp, state string, age int) {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	require.Equal(t, state, r.header.Get("X-Intelgate-Cache"))
	if age < 0 {
		require.Empty(t, r.header.Values("Age"), "Age is sent on hit and stale only")
		return
	}
	require.Equal(t, strconv.Itoa(age), r.header.Get("Age"))
}

// requireResult checks a lookup result's cache facts.
func requireResult(t *testing.T, res gateway.LookupResult, cached, stale bool, fetchedAt time.Time) {
	t.Helper()
	require.Equal(t, "ok", res.Status, "%+v", res)
	require.Equal(t, cached, res.Cached, "cached")
	require.Equal(t, stale, res.Stale, "stale")
	require.NotNil(t, res.FetchedAt)
	require.True(t, fetchedAt.Equal(*res.FetchedAt), "fetched_at %s, want %s", *res.FetchedAt, fetchedAt)
	require.NotEmpty(t, res.Data)
}

// TestRepeatedLookupsSpendOneCall: the same question asked again within
// the TTL is answered from the cache — one upstream call, hits with their
// Age, the original fetched_at — and asked again after the TTL it is a
// miss. The upstream type is part of the question.
func TestRepeatedLookupsSpendOneCall(t *testing.T) {
	t.Parallel()
	e := newCacheEnv(t, sim.Options{}, nil)

	first := e.resolve(t, "johndoe")
	requireCached(t, first, "miss", -1)
	for i := 1; i <= 4; i++ {
		e.clk.Advance(10 * time.Second)
		r := e.resolve(t, "johndoe")
		requireCached(t, r, "hit", 10*i)
		require.Equal(t, first.body, r.body, "a hit is the answer the upstream gave")
	}
	require.Equal(t, 1, e.calls("johndoe"), "five identical resolves, one upstream call")

	// The upstream type is another question to the upstream.
	typed := "/v1/resolve?query=johndoe&type=username"
	r := e.call(t, "siem", http.MethodGet, typed, "")
	requireCached(t, r, "miss", -1)
	require.Equal(t, 2, e.calls("johndoe"), "type=username is a separate call")
	requireCached(t, e.call(t, "siem", http.MethodGet, typed, ""), "hit", 0)
	require.Equal(t, 2, e.calls("johndoe"))

	// /v1/lookup reports the same facts in its results.
	fetched := e.clk.Now()
	requireResult(t, e.lookup(t, "8.8.4.4"), false, false, fetched)
	for range 3 {
		e.clk.Advance(time.Minute)
		requireResult(t, e.lookup(t, "8[.]8[.]4[.]4"), true, false, fetched)
	}
	require.Equal(t, 1, e.calls("8.8.4.4"), "one upstream call for the normalised indicator")

	// Past the TTL (1h after the first answer): a miss, one more call.
	e.clk.Advance(time.Hour)
	r = e.resolve(t, "johndoe")
	requireCached(t, r, "miss", -1)
	require.Equal(t, first.body, r.body)
	require.Equal(t, 3, e.calls("johndoe"), "the expired auto-type answer was fetched again (2 calls for it)")
	requireCached(t, e.resolve(t, "johndoe"), "hit", 0)
	require.Equal(t, 3, e.calls("johndoe"))
}

// gateObserver holds the first upstream call of a lookup inside its
// coalesced flight (at the governor step, before anything is sent) until
// the test opens it: the test then knows every caller joined the flight.
type gateObserver struct {
	once    sync.Once
	held    chan struct{} // closed when the first call is held
	release chan struct{}
	open    func()
}

func newGateObserver(t *testing.T) *gateObserver {
	g := &gateObserver{held: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	g.open = func() { once.Do(func() { close(g.release) }) }
	t.Cleanup(g.open) // never leave a caller held when the test fails
	return g
}

func (g *gateObserver) Observe(ctx context.Context, e observe.Event) {
	if _, ok := e.(observe.GovernorWaited); !ok {
		return
	}
	first := false
	g.once.Do(func() { first = true })
	if !first {
		return
	}
	close(g.held)
	select {
	case <-g.release:
	case <-ctx.Done():
	}
}

// TestConcurrentMissesOneCallOneWrite: N identical resolves on a cold
// cache, all inside one coalesced flight, make one upstream call and one
// durable cache write; the others share the answer.
func TestConcurrentMissesOneCallOneWrite(t *testing.T) {
	t.Parallel()
	const n = 16
	const query = "concurrent-carol"
	gate := newGateObserver(t)
	rec := &observetest.Recorder{}
	e := newCacheEnv(t, sim.Options{}, func(e *cacheEnv, _ *govCfg) { e.obs = observe.Join(gate, rec) })

	results := make(chan error, n)
	bodies := make(chan []byte, n)
	for range n {
		go func() {
			r, err := e.send(e.gw.url, "siem", http.MethodGet, resolvePath(query), "")
			switch {
			case err != nil:
			case r.status != http.StatusOK || r.header.Get("X-Intelgate-Cache") != "miss":
				err = fmt.Errorf("status %d, X-Intelgate-Cache %q: %s", r.status, r.header.Get("X-Intelgate-Cache"), r.body)
			default:
				bodies <- r.body
			}
			results <- err
		}()
	}
	select {
	case <-gate.held:
	case <-time.After(30 * time.Second):
		t.Fatal("no upstream call started")
	}
	// The fill's cache key, as Resolve builds it: the query as sent, its
	// detected type, the upstream type auto.
	ind := indicator.Indicator{Value: query, Type: indicator.Username}
	if p, err := indicator.Parse(query, indicator.Auto); err == nil {
		ind.Type = p.Type
	}
	key := cache.Key{Provider: "socialeye", Environment: "prod", Type: string(ind.Type), Indicator: query, UpstreamType: "auto"}
	svc := e.gw.app.Lookups()
	require.True(t, govPoll(30*time.Second, 5*time.Millisecond, func() bool { return svc.Filling(key) == n }),
		"only %d of %d callers joined the fill", svc.Filling(key), n)
	gate.open()

	for range n {
		require.NoError(t, <-results)
	}
	want := <-bodies
	for range n - 1 {
		require.Equal(t, want, <-bodies, "every caller gets the one answer")
	}
	require.Equal(t, 1, e.calls(query), "one upstream call for %d identical misses", n)
	var durable int
	for _, w := range observetest.Of[observe.CacheWritten](rec) {
		require.False(t, w.Err)
		if w.Tier == "durable" {
			durable++
		}
	}
	require.Equal(t, 1, durable, "one durable write: callers that shared the call do not write it again")
	require.Equal(t, 1, e.cacheRecords(t))
	shared := 0
	for _, f := range observetest.Of[observe.Finished](rec) {
		if f.Shared {
			shared++
		}
	}
	require.Equal(t, n-1, shared, "all but the caller that made the call shared it")

	requireCached(t, e.resolve(t, query), "hit", 0)
	require.Equal(t, 1, e.calls(query))
}

// TestCacheSurvivesRestart: the durable tier is the SQLite file, sealed
// under a key the gateway generated beside it at first start; a new
// process on the same dir reads both and answers from the cache.
func TestCacheSurvivesRestart(t *testing.T) {
	t.Parallel()
	e := newCacheEnv(t, sim.Options{}, nil)
	first := e.resolve(t, "johndoe")
	requireCached(t, first, "miss", -1)

	keyFile := filepath.Join(e.dir, KeyFileName)
	fi, err := os.Lstat(keyFile)
	require.NoError(t, err, "the data-at-rest key is generated beside the SQLite file")
	require.True(t, fi.Mode().IsRegular())
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	gen := govLogRecords(t, e.gw.logs.String(), "msg",
		"no encryption.keys configured: generated a data-at-rest key for the cache; back it up with the database, or configure encryption.keys")
	require.Len(t, gen, 1, e.gw.logs.String())
	require.Equal(t, "WARN", gen[0]["level"])
	require.Equal(t, keyFile, gen[0]["path"])
	key, err := os.ReadFile(keyFile)
	require.NoError(t, err)

	e.clk.Advance(5 * time.Minute)
	e.restart(t)
	r := e.resolve(t, "johndoe")
	requireCached(t, r, "hit", 300)
	require.Equal(t, first.body, r.body)
	require.Equal(t, 1, e.calls("johndoe"), "the restarted gateway answered from the durable tier")

	logs := e.gw.logs.String()
	require.Len(t, govLogRecords(t, logs, "msg", "using the generated data-at-rest key"), 1, logs)
	require.Empty(t, govLogRecords(t, logs, "msg", gen[0]["msg"].(string)), "the key is generated once")
	again, err := os.ReadFile(keyFile)
	require.NoError(t, err)
	require.Equal(t, key, again, "the key file is left as it was")
	require.NotContains(t, logs, strings.TrimSpace(string(key)), "the key is never logged")
}

// TestRotatedKeyPurgesItsEntries: answers fetched with an upstream key
// whose secret has since changed are purged — at start-up when the key
// file changed while the gateway was down, and live when the pool is
// swapped for a new secret.
func TestRotatedKeyPurgesItsEntries(t *testing.T) {
	t.Parallel()
	e := newCacheEnv(t, sim.Options{APIKeys: []string{simKey, simKey2}}, nil)
	requireCached(t, e.resolve(t, "johndoe"), "miss", -1)
	requireCached(t, e.resolve(t, "johndoe"), "hit", 0)

	e.gw.stop()
	require.NoError(t, os.WriteFile(filepath.Join(e.dir, "prod-1.key"), []byte(simKey2+"\n"), 0o600))
	e.start(t)
	requireCached(t, e.resolve(t, "johndoe"), "miss", -1)
	require.Equal(t, 2, e.calls("johndoe"), "the answer fetched with the old secret was purged")
	purged := purgeRecords(t, e.gw.logs.String(), "key_rotated")
	require.Len(t, purged, 1, e.gw.logs.String())
	require.Equal(t, "socialeye", purged[0]["provider"])
	require.Equal(t, "gateway", purged[0]["by"])
	require.EqualValues(t, 1, purged[0]["entries"])
	requireCached(t, e.resolve(t, "johndoe"), "hit", 0)

	// Live: the pool swapped for another secret of the same key id.
	require.NoError(t, e.gw.app.SwapKeys("socialeye", []govern.Key{
		{ID: "prod-1", Environment: "prod", Value: secret.NewValue(simKey)}}))
	// The purge runs in the background; it is done once it is logged.
	require.True(t, govPoll(10*time.Second, 5*time.Millisecond, func() bool {
		return len(purgeRecords(t, e.gw.logs.String(), "key_rotated")) == 2
	}), "no purge after the swap: %s", e.gw.logs.String())
	requireCached(t, e.resolve(t, "johndoe"), "miss", -1)
	require.Equal(t, 3, e.calls("johndoe"))
	require.Len(t, purgeRecords(t, e.gw.logs.String(), "key_rotated"), 2)
	require.NotContains(t, e.gw.logs.String(), simKey)
	require.NotContains(t, e.gw.logs.String(), simKey2)

	// The swap stored the new secret's fingerprint: a restart with it in
	// the config is not another rotation.
	e.gw.stop()
	require.NoError(t, os.WriteFile(filepath.Join(e.dir, "prod-1.key"), []byte(simKey+"\n"), 0o600))
	e.start(t)
	requireCached(t, e.resolve(t, "johndoe"), "hit", 0)
	require.Empty(t, purgeRecords(t, e.gw.logs.String(), "key_rotated"), "no second purge for the swapped secret")
}

// purgeRecords are the "cache purged" log records of reason.
func purgeRecords(t *testing.T, logs, reason string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, r := range govLogRecords(t, logs, "msg", "cache purged") {
		if r["reason"] == reason {
			out = append(out, r)
		}
	}
	return out
}

// TestStaleIfError: past its TTL but within stale_if_error, a kept answer
// stands in for a provider that cannot answer — a 5xx, or an open breaker
// — marked stale; past stale_if_error the failure is the answer.
func TestStaleIfError(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		provider string
		// fail makes the provider unable to answer query's lookup.
		fail func(t *testing.T, e *cacheEnv)
		// sent: whether a failing lookup still reaches the upstream.
		sent   bool
		status int
		slug   string
	}{
		{
			name: "upstream 5xx", provider: "    retry: {max_attempts: 1}\n",
			fail:   func(_ *testing.T, e *cacheEnv) { e.sim.Sim.SetFaults(sim.Faults{ErrorRate: 1}) },
			sent:   true,
			status: http.StatusBadGateway, slug: "upstream-error",
		},
		{
			name: "breaker open",
			provider: "    retry: {max_attempts: 1}\n" +
				"    breaker: {min_requests: 1, failure_ratio: 0.5, open_for: 1h}\n",
			fail: func(t *testing.T, e *cacheEnv) {
				// Failing lookups of other queries open the breaker (the
				// two successes before are in its window: two failures
				// reach the ratio, one does once the window dropped them);
				// the upstream then heals, so only the breaker fails.
				e.sim.Sim.SetFaults(sim.Faults{ErrorRate: 1})
				open := false
				for i := 0; i < 3 && !open; i++ {
					r := e.resolve(t, fmt.Sprintf("breaker-tripper-%d", i))
					require.Contains(t, []int{http.StatusBadGateway, http.StatusServiceUnavailable}, r.status, string(r.body))
					q := e.call(t, "siem", http.MethodGet, "/v1/quota", "")
					open = strings.Contains(string(q.body), `"breaker":"open"`)
				}
				require.True(t, open, "the breaker did not open")
				e.sim.Sim.SetFaults(sim.Faults{})
			},
			status: http.StatusServiceUnavailable, slug: "unavailable",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newCacheEnv(t, sim.Options{}, func(_ *cacheEnv, c *govCfg) {
				c.cache = "{ttl: 1h, stale_if_error: 6h}"
				c.provider = tc.provider
			})
			fetched := e.clk.Now()
			first := e.resolve(t, "johndoe")
			requireCached(t, first, "miss", -1)
			requireResult(t, e.lookup(t, "8.8.4.4"), false, false, fetched)

			e.clk.Advance(2 * time.Hour) // past the TTL, within stale_if_error
			tc.fail(t, e)
			before := e.calls("johndoe")
			r := e.resolve(t, "johndoe")
			requireCached(t, r, "stale", 7200)
			require.Equal(t, first.body, r.body, "the stale answer is the cached body")
			requireResult(t, e.lookup(t, "8.8.4.4"), true, true, fetched)
			if tc.sent {
				require.Equal(t, before+1, e.calls("johndoe"), "the upstream was asked, and failed")
			} else {
				require.Equal(t, before, e.calls("johndoe"), "an open breaker sends nothing")
			}
			stale := govLogRecords(t, e.gw.logs.String(), "msg", "provider could not answer; serving a stale cached answer")
			require.Len(t, stale, 2, e.gw.logs.String())
			require.Equal(t, tc.slug, stale[0]["kind"])

			e.clk.Advance(4*time.Hour + time.Second) // past stale_if_error (6h since fetched_at)
			govRequireProblem(t, e.resolve(t, "johndoe"), tc.status, tc.slug)
			res := e.lookup(t, "8.8.4.4")
			require.Equal(t, "error", res.Status, "%+v", res)
			require.False(t, res.Cached)
			require.NotNil(t, res.Error)
			require.Equal(t, "https://intelgate.dev/problems/"+tc.slug, res.Error.Type)
		})
	}
}

// TestPlaintextNeverOnDisk: the SQLite file, its WAL and shared memory
// hold no indicator and no word of an answer, raw, hex or base64 — while
// the gateway runs and after it closed — although the cache holds them
// (a restart answers from it).
func TestPlaintextNeverOnDisk(t *testing.T) {
	t.Parallel()
	e := newCacheEnv(t, sim.Options{}, nil)
	queries := []string{"plaintext-marker-qv7", "pmarker.qv7@example.net"}
	var markers []string
	for _, q := range queries {
		r := e.resolve(t, q)
		requireCached(t, r, "miss", -1)
		markers = append(markers, q)
		markers = append(markers, answerMarkers(t, r.body)...)
	}
	res := e.lookup(t, "leaky-lookup-qv7.example.com")
	require.False(t, res.Cached)
	markers = append(markers, "leaky-lookup-qv7.example.com")
	markers = append(markers, answerMarkers(t, res.Data)...)
	require.Greater(t, len(markers), len(queries)+1, "the answers hold markers of their own")
	require.Equal(t, 3, e.cacheRecords(t), "the answers are in the durable tier")

	requireNotOnDisk(t, e.dir, markers)
	e.gw.stop()
	requireNotOnDisk(t, e.dir, markers)

	e.start(t)
	for _, q := range queries {
		requireCached(t, e.resolve(t, q), "hit", 0)
		require.Equal(t, 1, e.calls(q))
	}
	require.True(t, e.lookup(t, "leaky-lookup-qv7.example.com").Cached)
	e.gw.stop()
	requireNotOnDisk(t, e.dir, markers)
}

// answerMarkers are the distinctive strings of a simulator answer: its
// handles, profile URLs and display names.
func answerMarkers(t *testing.T, body []byte) []string {
	t.Helper()
	var a sim.Result
	require.NoError(t, json.Unmarshal(body, &a), string(body))
	require.NotEmpty(t, a.Profiles)
	var out []string
	for _, p := range a.Profiles {
		for _, s := range []string{p.Username, p.URL, p.DisplayName} {
			if len(s) >= 8 {
				out = append(out, s)
			}
		}
	}
	return out
}

// requireNotOnDisk reads every byte of the store's files in dir and fails
// on any marker in any form the leak detector knows (raw, base64 at every
// alignment, hex in both cases).
func requireNotOnDisk(t *testing.T, dir string, markers []string) {
	t.Helper()
	read := 0
	for _, name := range []string{"state.db", "state.db-wal", "state.db-shm"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if os.IsNotExist(err) && name != "state.db" {
			continue // checkpointed and removed at close
		}
		require.NoError(t, err)
		read += len(b)
		for _, m := range markers {
			for _, f := range leak.Forms(m) {
				require.False(t, bytes.Contains(b, []byte(f)), "%s holds %q (as %q)", name, m, f)
			}
		}
	}
	require.Positive(t, read)
}
