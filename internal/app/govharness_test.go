package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/auth"
	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/gateway"
	"github.com/intelgate/intelgate/internal/logtest"
	"github.com/intelgate/intelgate/internal/sim"
)

// This file is the harness of the issue-3 integration tests: a simulator
// over real TLS on loopback, gateways built by New from real config files
// (config.Load) with real SQLite files, and, where a test needs it, a real
// Redis. Everything goes through real HTTP.

// govCfg is what varies between the governance tests' config files. The
// YAML fragments are indented by the caller as they appear in the file.
type govCfg struct {
	keys     []govKey // default: prod-1 holding simKey
	server   string   // extra flow-map entries of server, e.g. "write_timeout: 30s"
	provider string   // extra lines of providers.socialeye (4 spaces)
	client   string   // extra lines of clients.siem (4 spaces)
	top      string   // extra top-level YAML (shared:, more clients)
	tls      string   // providers.socialeye.tls flow map; default: the simulator's CA and pin
	timeout  string   // providers.socialeye.timeout; default 5s
	// storage is the storage: flow map; default {driver: sqlite, dsn:
	// state.db}, a file of the directory's own.
	storage string
	// cache is providers.socialeye.cache as a flow map; default
	// {enabled: false}: the governance tests count upstream calls, and a
	// cache hit would make none.
	cache string
}

// govKey is one upstream key of the socialeye provider.
type govKey struct{ id, value string }

// startGovSim runs the simulator over TLS on loopback.
func startGovSim(t *testing.T, o sim.Options) *sim.Server {
	t.Helper()
	if o.APIKeys == nil {
		o.APIKeys = []string{simKey}
	}
	s, err := sim.Start("127.0.0.1:0", true, sim.New(o))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// writeGovConfig writes a complete config directory for s: the YAML, one
// file per key and the simulator's CA. The client siem authenticates with
// the token whose hash is tokenHash. It returns the config file's path;
// storage is state.db beside it, so every directory is its own SQLite file.
func writeGovConfig(t *testing.T, dir string, s *sim.Server, tokenHash string, c govCfg) string {
	t.Helper()
	if c.keys == nil {
		c.keys = []govKey{{"prod-1", simKey}}
	}
	var keys []string
	for _, k := range c.keys {
		file := k.id + ".key"
		require.NoError(t, os.WriteFile(filepath.Join(dir, file), []byte(k.value+"\n"), 0o600))
		keys = append(keys, fmt.Sprintf("{id: %s, secret: \"file:%s\"}", k.id, file))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ca.pem"), s.CAPEM, 0o600))
	if c.tls == "" {
		c.tls = fmt.Sprintf(`{ca_file: ca.pem, pins: ["%s"]}`, s.Pin)
	}
	if c.timeout == "" {
		c.timeout = "5s"
	}
	if c.cache == "" {
		c.cache = "{enabled: false}"
	}
	if c.storage == "" {
		c.storage = "{driver: sqlite, dsn: state.db}"
	}
	server := `listen: "127.0.0.1:0"`
	if c.server != "" {
		server += ", " + c.server
	}
	yaml := fmt.Sprintf(`
server: {%s}
environment: prod
storage: %s
providers:
  socialeye:
    kind: socialeye
    base_url: %s
    keys: [%s]
    tls: %s
    timeout: %s
    cache: %s
%s
clients:
  siem:
    token_sha256: %s
    providers: [socialeye]
    source_cidrs: [127.0.0.0/8]
%s
%s`, server, c.storage, s.URL, strings.Join(keys, ", "), c.tls, c.timeout, c.cache, c.provider, tokenHash, c.client, c.top)
	path := filepath.Join(dir, "intelgate.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	return path
}

// newGovToken returns a client token and the token_sha256 for config.
func newGovToken(t *testing.T) (token, hash string) {
	t.Helper()
	token, hash, err := auth.NewToken()
	require.NoError(t, err)
	return token, hash
}

// govApp is one running gateway.
type govApp struct {
	app  *App
	url  string
	logs *logtest.Buffer
	stop func() // idempotent: shuts the server down and closes the app
}

// runGovApp loads cfgPath with config.Load, builds the app and serves it on
// a loopback port until stop or the end of the test.
func runGovApp(t *testing.T, cfgPath string) *govApp {
	t.Helper()
	return runGovAppWith(t, cfgPath, Options{})
}

// runGovAppWith is runGovApp with app options (an observer).
func runGovAppWith(t *testing.T, cfgPath string, o Options) *govApp {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	require.NoError(t, err)
	log, logs := logtest.JSONLogger()
	a, err := New(context.Background(), cfg, log, o)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, ln) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			err := errors.Join(<-done, a.Close())
			if err != nil {
				t.Logf("gateway log:\n%s", logs.String())
			}
			require.NoError(t, err)
		})
	}
	t.Cleanup(stop)
	t.Cleanup(func() {
		if t.Failed() {
			// What the gateway saw (cache read errors, store timeouts)
			// is the first thing to read when a loaded run fails.
			t.Logf("gateway log:\n%s", logs.String())
		}
	})
	return &govApp{app: a, url: "http://" + ln.Addr().String(), logs: logs, stop: stop}
}

// govClient calls gateways with one token over a pooled transport, so a
// burst of lookups does not spend its time in connection set-up.
type govClient struct {
	token string
	http  *http.Client
}

func newGovClient(t *testing.T, token string) *govClient {
	t.Helper()
	tr := &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512}
	t.Cleanup(tr.CloseIdleConnections)
	return &govClient{token: token, http: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// govResp is an answer, read whole.
type govResp struct {
	status int
	header http.Header
	body   []byte
}

// do GETs base+path. It returns an error rather than failing the test so
// that it can run on goroutines other than the test's.
func (c *govClient) do(base, path string) (govResp, error) {
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		return govResp{}, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return govResp{}, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return govResp{}, fmt.Errorf("reading %s: %w", path, err)
	}
	if strings.Contains(string(body), simKey) || strings.Contains(string(body), simKey2) {
		return govResp{}, fmt.Errorf("GET %s: the upstream key reached a client", path)
	}
	return govResp{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// get is do on the test goroutine.
func (c *govClient) get(t *testing.T, base, path string) govResp {
	t.Helper()
	r, err := c.do(base, path)
	require.NoError(t, err)
	return r
}

// quota reads GET /v1/quota.
func (c *govClient) quota(t *testing.T, base string) gateway.QuotaResponse {
	t.Helper()
	r := c.get(t, base, "/v1/quota")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var q gateway.QuotaResponse
	require.NoError(t, json.Unmarshal(r.body, &q), string(r.body))
	return q
}

// govRequireProblem checks a problem+json answer of status and type slug and
// returns its Retry-After in seconds (-1 when absent).
func govRequireProblem(t *testing.T, r govResp, status int, slug string) int {
	t.Helper()
	require.Equal(t, status, r.status, string(r.body))
	require.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
	got, detail := problemType(t, r.body)
	require.Equal(t, slug, got, detail)
	ra := r.header.Get("Retry-After")
	if ra == "" {
		return -1
	}
	n, err := strconv.Atoi(ra)
	require.NoError(t, err, "Retry-After must be delta-seconds: %q", ra)
	return n
}

// govResolvePath is a /v1/resolve lookup of a distinct username.
func govResolvePath(prefix string, i int) string {
	return fmt.Sprintf("/v1/resolve?query=%s-%d", prefix, i)
}

// govPoll calls cond every interval until it reports true or timeout passes;
// it reports whether cond became true.
func govPoll(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-deadline.C:
			return cond()
		case <-tick.C:
		}
	}
}

// govLogRecords returns the JSON log records whose field equals value.
func govLogRecords(t *testing.T, logs string, field, value string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(logs) {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		if rec[field] == value {
			out = append(out, rec)
		}
	}
	return out
}

// nextMidnightUTC is the UTC midnight that ends now's day.
func nextMidnightUTC(now time.Time) time.Time {
	now = now.UTC()
	return time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
}

// untilMidnightUTC is how long from now until the next UTC midnight.
func untilMidnightUTC(now time.Time) time.Duration { return nextMidnightUTC(now).Sub(now) }

// skipNearMidnightUTC skips a day-quota test that could straddle midnight
// UTC: the quota would rightly reset in the middle of it.
func skipNearMidnightUTC(t *testing.T) {
	t.Helper()
	if d := untilMidnightUTC(time.Now()); d < time.Minute {
		t.Skipf("%s before midnight UTC: a daily quota would reset mid-test", d.Round(time.Second))
	}
}

// redisShared writes the Redis URL and a shared data-at-rest key to secret
// files in each dir and returns the shared: and encryption: blocks for a
// fresh key prefix, removing that prefix's keys
// when the test ends (never FLUSHDB: other tests share the database).
//
// The Redis operation timeout is 10s, not the 250ms default: these tests
// measure what the replicas do together (pacing, revocations, pauses), and
// a Redis answer that is merely late on a loaded 2-core machine under
// -race turned into the fail-closed 503 "shared rate-limit state is
// unreachable" (seen once, at 2s, with two race suites on the machine).
// That fail mode is the designed answer to a Redis outage and is tested
// with short timeouts of its own (cache_redis_test.go, redisstate).
func redisShared(t *testing.T, url string, dirs ...string) string {
	t.Helper()
	for _, d := range dirs {
		require.NoError(t, os.WriteFile(filepath.Join(d, "redis.url"), []byte(url+"\n"), 0o600))
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	prefix := "intelgate-apptest:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		opts, err := redis.ParseURL(url)
		if err != nil {
			return
		}
		rc := redis.NewClient(opts)
		defer rc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := rc.Scan(ctx, 0, prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			rc.Del(ctx, iter.Val())
		}
	})
	// Replicas sharing Redis share the data-at-rest key too (config
	// validation requires it): it fingerprints the keys whose revocations
	// they share.
	rcWriteKey(t, dirs...)
	return fmt.Sprintf("shared: {driver: redis, url: \"file:redis.url\", prefix: %q, timeout: 10s}\n", prefix) + rcEncryption
}
