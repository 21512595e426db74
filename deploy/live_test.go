package deploy_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/app"
	"github.com/intelgate/intelgate/internal/auth"
	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/sim"
)

// The live gateway: the SocialEye simulator over TLS on loopback and a
// gateway on the embedded default (SQLite in a temporary directory) built
// by app.New from a config file, as `intelgate demo` does. It is started
// once, by the first test that needs it, and stopped by TestMain. Its
// lookups make the labelled series exist that a dashboard reads: an
// upstream answer, a cache hit, a withheld indicator, a refused request, an
// unauthenticated one, a key the upstream refuses — which the gateway's auth
// check confirms and revokes — and an upstream that refuses connections,
// whose breaker opens.

// scrape is one /metrics answer: the sample names and each family's type.
type scrape struct {
	samples map[string]bool   // every series name, e.g. x_bucket for a histogram x
	types   map[string]string // family name -> counter, gauge, histogram, …
	text    string
}

func (s *scrape) histograms() map[string]bool {
	h := map[string]bool{}
	for name, typ := range s.types {
		if typ == "histogram" || typ == "summary" {
			h[name] = true
		}
	}
	return h
}

var live struct {
	once   sync.Once
	scrape *scrape
	err    error
	stop   func()
}

// liveScrape returns the scrape of the running gateway, starting it first.
func liveScrape(t *testing.T) *scrape {
	t.Helper()
	live.once.Do(func() { live.scrape, live.stop, live.err = startLiveGateway() })
	require.NoError(t, live.err, "starting the live gateway")
	return live.scrape
}

func stopLiveGateway() {
	if live.stop != nil {
		live.stop()
	}
}

const liveSimKey = "sim-deploy-test-key-0123456789"

// startLiveGateway returns errors rather than failing a test: it runs inside
// a sync.Once on behalf of whichever test came first.
func startLiveGateway() (_ *scrape, stop func(), err error) {
	var cleanups []func()
	stop = func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	dir, err := os.MkdirTemp("", "intelgate-deploy-test-")
	if err != nil {
		return nil, stop, err
	}
	cleanups = append(cleanups, func() { _ = os.RemoveAll(dir) })

	s, err := sim.Start("127.0.0.1:0", true, sim.New(sim.Options{APIKeys: []string{liveSimKey}}))
	if err != nil {
		return nil, stop, fmt.Errorf("starting simulator: %w", err)
	}
	cleanups = append(cleanups, func() { _ = s.Close() })

	token, hash, err := auth.NewToken()
	if err != nil {
		return nil, stop, err
	}
	adminToken, adminHash, err := auth.NewToken()
	if err != nil {
		return nil, stop, err
	}
	files := map[string]string{
		"good.key": liveSimKey + "\n",
		"bad.key":  "not-the-simulators-key\n",
		"ca.pem":   string(s.CAPEM),
		"intelgate.yaml": fmt.Sprintf(`
server: {listen: "127.0.0.1:0"}
environment: prod
storage: {driver: sqlite, dsn: state.db}
providers:
  socialeye:
    kind: socialeye
    base_url: %[1]s
    keys: [{id: prod-1, secret: "file:good.key", rotated_at: 2026-01-01}]
    tls: {ca_file: ca.pem, pins: ["%[2]s"]}
    timeout: 5s
    limits: {rate: 50/s, burst: 50, quotas: {day: 1000, month: 20000}}
  revoked:
    kind: socialeye
    base_url: %[1]s
    keys: [{id: old-1, secret: "file:bad.key"}]
    tls: {ca_file: ca.pem, pins: ["%[2]s"]}
    timeout: 5s
  down:
    kind: socialeye
    base_url: https://127.0.0.1:1
    keys: [{id: down-1, secret: "file:good.key"}]
    timeout: 5s
    retry: {max_attempts: 1}
    breaker: {min_requests: 1, failure_ratio: 0.5}
clients:
  siem:
    token_sha256: %[3]s
    providers: [socialeye, revoked, down]
    source_cidrs: [127.0.0.0/8]
  prometheus:
    token_sha256: %[4]s
    providers: [socialeye]
    source_cidrs: [127.0.0.0/8]
    admin: true
`, s.URL, s.Pin, hash, adminHash),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			return nil, stop, err
		}
	}
	cfg, err := config.Load(filepath.Join(dir, "intelgate.yaml"))
	if err != nil {
		return nil, stop, fmt.Errorf("loading the live gateway's config: %w", err)
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler), app.Options{})
	if err != nil {
		return nil, stop, fmt.Errorf("building the gateway: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = a.Close()
		return nil, stop, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, ln) }()
	cleanups = append(cleanups, func() {
		cancel()
		<-done
		_ = a.Close()
	})

	base := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: 30 * time.Second}
	cleanups = append(cleanups, client.CloseIdleConnections)
	calls := []struct {
		path, token string
		status      int
	}{
		{"/v1/resolve?query=alice", token, http.StatusOK}, // upstream answer
		{"/v1/resolve?query=alice", token, http.StatusOK}, // cache hit
		{"/v1/lookup?indicator=8.8.8.8&providers=socialeye", token, http.StatusOK},
		{"/v1/lookup?indicator=10.0.0.1&providers=socialeye", token, http.StatusOK},  // withheld (private)
		{"/v1/lookup?indicator=example.org&providers=revoked", token, http.StatusOK}, // 401 upstream: revoked
		{"/v1/lookup?indicator=example.org&providers=down", token, http.StatusOK},    // connect refused: the breaker opens
		{"/v1/lookup?indicator=&providers=socialeye", token, http.StatusBadRequest},  // refused
		{"/v1/quota", token, http.StatusOK},
		{"/v1/resolve?query=alice", "", http.StatusUnauthorized},
		{"/healthz", "", http.StatusOK},
		{"/readyz", "", http.StatusOK},
	}
	for _, c := range calls {
		status, _, err := get(client, base+c.path, c.token)
		if err != nil {
			return nil, stop, err
		}
		if status != c.status {
			return nil, stop, fmt.Errorf("GET %s: status %d, want %d", c.path, status, c.status)
		}
	}
	// The revocation is decided on the request path, but the cache purge
	// it causes runs in the background: poll, with a deadline, until every
	// series the scenario produces is there.
	deadline := time.Now().Add(30 * time.Second)
	for {
		sc, err := scrapeMetrics(client, base+"/metrics", adminToken)
		if err != nil {
			return nil, stop, err
		}
		if sc.samples["intelgate_key_revocations_total"] && sc.samples["intelgate_quota_remaining"] &&
			sc.samples["intelgate_breaker_transitions_total"] && sc.samples["intelgate_cache_purges_total"] {
			return sc, stop, nil
		}
		if time.Now().After(deadline) {
			return nil, stop, errors.New("no intelgate_key_revocations_total, intelgate_quota_remaining, intelgate_breaker_transitions_total or intelgate_cache_purges_total series within 30s:\n" + sc.text)
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return nil, stop, ctx.Err()
		}
	}
}

func get(c *http.Client, url, token string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("GET %s: %w", req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// scrapeMetrics reads /metrics as Prometheus's main-listener job does: with
// an admin client's Bearer token.
func scrapeMetrics(c *http.Client, url, token string) (*scrape, error) {
	status, body, err := get(c, url, token)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: status %d: %s", status, body)
	}
	sc := &scrape{samples: map[string]bool{}, types: map[string]string{}, text: string(body)}
	lines := bufio.NewScanner(strings.NewReader(sc.text))
	lines.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for lines.Scan() {
		line := lines.Text()
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			sc.types[f[2]] = f[3]
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		sc.samples[name] = true
	}
	return sc, lines.Err()
}

func TestLiveGatewayScrape(t *testing.T) {
	t.Parallel()
	sc := liveScrape(t)
	// What the fixture set out to create is there, with its type.
	for name, typ := range map[string]string{
		"intelgate_http_requests_total":               "counter",
		"intelgate_http_request_duration_seconds":     "histogram",
		"intelgate_upstream_requests_total":           "counter",
		"intelgate_upstream_request_duration_seconds": "histogram",
		"intelgate_lookups_total":                     "counter",
		"intelgate_lookups_withheld_total":            "counter",
		"intelgate_requests_refused_total":            "counter",
		"intelgate_key_revocations_total":             "counter",
		"intelgate_quota_remaining":                   "gauge",
		"intelgate_breaker_state":                     "gauge",
		"intelgate_audit_queue_depth":                 "gauge",
	} {
		require.Equal(t, typ, sc.types[name], "type of %s in the live scrape", name)
	}
	require.Contains(t, sc.text, `outcome="auth"`, "the refused key's lookup is counted as an auth outcome")
}
