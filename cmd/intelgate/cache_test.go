package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/app"
	"github.com/intelgate/intelgate/internal/auth"
	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/logtest"
	"github.com/intelgate/intelgate/internal/sim"
)

// runCacheCmd runs `intelgate cache ARGS…` in-process.
func runCacheCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCmd()
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(append([]string{"cache"}, args...))
	err = cmd.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

// cacheEnv is an embedded deployment on disk: a config directory (SQLite
// file, key files, the simulator's CA) in front of an in-process simulator
// over TLS, and the token of its one client.
type cacheEnv struct {
	dir   string
	sim   *sim.Server
	token string
	hash  string
}

const cacheSimKey = "se-cache-cli-test-key-6c2f"

func newCacheEnv(t *testing.T) *cacheEnv {
	t.Helper()
	s, err := sim.Start("127.0.0.1:0", true, sim.New(sim.Options{APIKeys: []string{cacheSimKey}}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	token, hash, err := auth.NewToken()
	require.NoError(t, err)
	e := &cacheEnv{dir: t.TempDir(), sim: s, token: token, hash: hash}
	require.NoError(t, os.WriteFile(filepath.Join(e.dir, "socialeye.key"), []byte(cacheSimKey+"\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(e.dir, "sim-ca.pem"), s.CAPEM, 0o600))
	return e
}

// writeConfig (re)writes intelgate.yaml, caching socialeye for an hour,
// with encryption.keys listing keyIDs in order (each read from ID.key, see
// writeKey); none: the generated data-at-rest key.
func (e *cacheEnv) writeConfig(t *testing.T, keyIDs ...string) string {
	t.Helper()
	enc := ""
	if len(keyIDs) > 0 {
		enc = "encryption:\n  keys:\n"
		for _, id := range keyIDs {
			enc += fmt.Sprintf("    - {id: %s, secret: \"file:%s.key\"}\n", id, id)
		}
	}
	doc := fmt.Sprintf(`server: {listen: "127.0.0.1:0"}
environment: prod
storage: {driver: sqlite, dsn: intelgate.db}
providers:
  socialeye:
    kind: socialeye
    base_url: %s
    keys: [{id: prod-1, secret: "file:socialeye.key"}]
    tls: {ca_file: sim-ca.pem, pins: [%q]}
    timeout: 5s
    cache: {ttl: 1h}
clients:
  siem:
    token_sha256: %s
    providers: [socialeye]
    source_cidrs: [127.0.0.0/8]
%s`, e.sim.URL, e.sim.Pin, e.hash, enc)
	p := filepath.Join(e.dir, "intelgate.yaml")
	require.NoError(t, os.WriteFile(p, []byte(doc), 0o600))
	return p
}

// writeKey writes a fresh random data-at-rest key as ID.key.
func (e *cacheEnv) writeKey(t *testing.T, id string) {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	require.NoError(t, os.WriteFile(filepath.Join(e.dir, id+".key"), []byte(hex.EncodeToString(b)+"\n"), 0o600))
}

// cacheGateway is a gateway serving e's config in-process.
type cacheGateway struct {
	url  string
	stop func() // idempotent
	logs *logtest.Buffer
}

// startGateway serves cfgPath until stop or the end of the test.
func (e *cacheEnv) startGateway(t *testing.T, cfgPath string) *cacheGateway {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	require.NoError(t, err)
	log, logs := logtest.JSONLogger()
	a, err := app.New(t.Context(), cfg, log, app.Options{})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, ln) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, a.Close())
	}
	t.Cleanup(stop)
	return &cacheGateway{url: "http://" + ln.Addr().String(), stop: stop, logs: logs}
}

// cacheAnswer is a /v1/resolve answer.
type cacheAnswer struct {
	status int
	cache  string // X-Intelgate-Cache
	body   string
}

// resolve asks gw for query; it returns an error rather than failing, so
// that it can be polled.
func (e *cacheEnv) resolve(gw *cacheGateway, query string) (cacheAnswer, error) {
	req, err := http.NewRequest(http.MethodGet, gw.url+"/v1/resolve?query="+url.QueryEscape(query), nil)
	if err != nil {
		return cacheAnswer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return cacheAnswer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return cacheAnswer{}, err
	}
	return cacheAnswer{status: resp.StatusCode, cache: resp.Header.Get("X-Intelgate-Cache"), body: string(b)}, nil
}

// mustResolve is resolve that must answer 200.
func (e *cacheEnv) mustResolve(t *testing.T, gw *cacheGateway, query string) cacheAnswer {
	t.Helper()
	a, err := e.resolve(gw, query)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, a.status, a.body)
	return a
}

// upstreamCalls is how often the simulator was asked query.
func (e *cacheEnv) upstreamCalls(query string) int { return e.sim.Sim.Stats().ByQuery[query] }

// openDB opens e's SQLite file directly, as an attacker with the file
// would; no gateway may be writing to it meanwhile.
func (e *cacheEnv) openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(e.dir, "intelgate.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func (e *cacheEnv) records(t *testing.T) int {
	t.Helper()
	var n int
	require.NoError(t, e.openDB(t).QueryRowContext(t.Context(), "SELECT COUNT(*) FROM cache_records").Scan(&n))
	return n
}

func TestCachePurgeRefusesBadFlags(t *testing.T) {
	t.Parallel()
	e := newCacheEnv(t)
	cfg := e.writeConfig(t)

	for _, sub := range []string{"purge", "rekey"} {
		_, _, err := runCacheCmd(t, sub)
		require.ErrorContains(t, err, `required flag(s) "config" not set`, sub)
	}

	_, _, err := runCacheCmd(t, "purge", "--config", cfg, "--indicator", "johndoe")
	require.ErrorContains(t, err, "--indicator")
	require.ErrorContains(t, err, "--provider", "it says which flag is missing")

	stdout, _, err := runCacheCmd(t, "purge", "--config", cfg, "--provider", "nosuch")
	require.Error(t, err)
	require.Regexp(t, `^--provider: .*"nosuch"`, err.Error())
	require.Empty(t, stdout, "nothing was purged")
}

// TestCachePurgeReachesARunningGateway: the CLI purges the durable tier of
// an embedded deployment and says how many answers went; a gateway
// running on the same file drops its hot copies within its purge log's
// poll (a second) and asks upstream again.
func TestCachePurgeReachesARunningGateway(t *testing.T) {
	t.Parallel()
	e := newCacheEnv(t)
	cfg := e.writeConfig(t)
	gw := e.startGateway(t, cfg)
	queries := []string{"purge-cli-alice", "purge-cli-bob", "purge-cli-carol"}
	for _, q := range queries {
		require.Equal(t, "miss", e.mustResolve(t, gw, q).cache, q)
		require.Equal(t, "hit", e.mustResolve(t, gw, q).cache, q)
		require.Equal(t, 1, e.upstreamCalls(q), q)
	}

	stdout, stderr, err := runCacheCmd(t, "purge", "--config", cfg, "--provider", "socialeye")
	require.NoError(t, err, stderr)
	require.Equal(t, fmt.Sprintf("purged %d cached answer(s)\n", len(queries)), stdout)
	require.Zero(t, e.records(t))

	var last string
	missed := pollUntil(10*time.Second, 20*time.Millisecond, func() bool {
		a, err := e.resolve(gw, queries[0])
		last = fmt.Sprintf("%v %d %s", err, a.status, a.cache)
		return err == nil && a.status == http.StatusOK && a.cache == "miss"
	})
	require.True(t, missed, "the running gateway still serves the purged answer: %s", last)
	require.Equal(t, 2, e.upstreamCalls(queries[0]))

	stdout, stderr, err = runCacheCmd(t, "purge", "--config", cfg, "--provider", "socialeye", "--indicator", queries[0])
	require.NoError(t, err, stderr)
	require.Equal(t, "purged 1 cached answer(s)\n", stdout, "the refetched answer, and only it")
}

// TestCacheRekeyRetiresTheOldKey: answers sealed under k1, re-sealed by
// rekey with keys [k2, k1], are still hits for a gateway that holds only
// k2 — none was left under k1. A record tampered with in the file is
// counted as corrupt and deleted by rekey, and never served.
func TestCacheRekeyRetiresTheOldKey(t *testing.T) {
	t.Parallel()
	e := newCacheEnv(t)
	e.writeKey(t, "k1")
	e.writeKey(t, "k2")
	queries := []string{"rekey-alice", "rekey-bob", "rekey-carol"}
	bodies := map[string]string{}
	gw := e.startGateway(t, e.writeConfig(t, "k1"))
	for _, q := range queries {
		bodies[q] = e.mustResolve(t, gw, q).body
	}
	gw.stop()
	require.Equal(t, len(queries), e.records(t))

	// Flip the last byte of one sealed body (its GCM tag): the record
	// still names k1, so it is corrupt, not sealed under an unknown key.
	db := e.openDB(t)
	var rowid int64
	var body []byte
	require.NoError(t, db.QueryRowContext(t.Context(), "SELECT rowid, body FROM cache_records LIMIT 1").Scan(&rowid, &body))
	body[len(body)-1] ^= 0x01
	_, err := db.ExecContext(t.Context(), "UPDATE cache_records SET body = ? WHERE rowid = ?", body, rowid)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	cfg := e.writeConfig(t, "k2", "k1")
	stdout, stderr, err := runCacheCmd(t, "rekey", "--config", cfg)
	require.NoError(t, err, stderr)
	require.Equal(t, fmt.Sprintf("re-sealed %d record(s) under key k2; 1 corrupt record(s) deleted\n", len(queries)-1), stdout)
	require.Empty(t, stderr, "no record is under a key outside encryption.keys")
	require.Equal(t, len(queries)-1, e.records(t), "the corrupt record is gone")

	stdout, _, err = runCacheCmd(t, "rekey", "--config", cfg)
	require.NoError(t, err)
	require.Equal(t, "re-sealed 0 record(s) under key k2; 0 corrupt record(s) deleted\n", stdout, "a second run has nothing to do")

	gw = e.startGateway(t, e.writeConfig(t, "k2"))
	hits, misses := 0, 0
	for _, q := range queries {
		a := e.mustResolve(t, gw, q)
		require.Equal(t, bodies[q], a.body, q)
		switch a.cache {
		case "hit":
			hits++
			require.Equal(t, 1, e.upstreamCalls(q), "%s was served from the cache", q)
		case "miss":
			misses++
			require.Equal(t, 2, e.upstreamCalls(q), "%s, the tampered record, was fetched again", q)
		default:
			t.Fatalf("%s: X-Intelgate-Cache %q", q, a.cache)
		}
	}
	require.Equal(t, len(queries)-1, hits, "every re-sealed answer opens under k2 alone")
	require.Equal(t, 1, misses, "the tampered answer is never served")
	require.Equal(t, len(queries)+1, e.sim.Sim.Stats().Requests)
}

// pollUntil calls cond every interval until it reports true or timeout
// passes; it reports whether cond became true.
func pollUntil(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for !cond() {
		if !time.Now().Before(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}
