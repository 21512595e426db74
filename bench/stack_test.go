package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/intelgate/intelgate/internal/app"
	"github.com/intelgate/intelgate/internal/auth"
	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/retryafter"
	"github.com/intelgate/intelgate/internal/sim"
)

// simKey is the upstream key of every benchmark stack. It is not a real
// secret, but it is still only sent to the simulator (and through nginx,
// which plays a dumb proxy holding no key of its own).
const simKey = "se-bench-UPSTREAM-KEY"

// stackOptions describe one simulator + gateway pair.
type stackOptions struct {
	simRate  float64 // simulator's per-key limit; 0: unlimited
	simBurst int
	// limits is the YAML flow mapping for providers.socialeye.limits;
	// empty: the defaults (no rate limit, so no pacing).
	limits string
	conns  int // idle connections the benchmark client keeps per host
}

// stack is a running simulator (TLS, loopback) and a gateway in front of
// it, built by internal/app from a real config file, exactly as `intelgate
// serve` builds it.
type stack struct {
	sim    *sim.Server
	gwURL  string
	token  string
	pauses *lineCounter // gateway log lines announcing a paused upstream key
	client *http.Client // plaintext client for the gateway (and nginx)
	direct *http.Client // TLS client trusting the simulator's certificate
}

// startStack starts both servers; tb.Cleanup stops them.
func startStack(tb testing.TB, o stackOptions) *stack {
	tb.Helper()
	simSrv, err := sim.Start("127.0.0.1:0", true, sim.New(sim.Options{
		APIKeys: []string{simKey}, Rate: o.simRate, Burst: o.simBurst}))
	if err != nil {
		tb.Fatalf("starting simulator: %v", err)
	}
	tb.Cleanup(func() { _ = simSrv.Close() })

	dir := tb.TempDir()
	token, hash, err := auth.NewToken()
	if err != nil {
		tb.Fatalf("making client token: %v", err)
	}
	files := map[string][]byte{"se.key": []byte(simKey + "\n"), "ca.pem": simSrv.CAPEM}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			tb.Fatalf("writing %s: %v", name, err)
		}
	}
	limits := o.limits
	if limits == "" {
		limits = "{}"
	}
	yaml := fmt.Sprintf(`
server: {listen: "127.0.0.1:0"}
storage: {driver: sqlite, dsn: state.db}
providers:
  socialeye:
    kind: socialeye
    base_url: %s
    keys: [{id: bench-1, secret: "file:se.key"}]
    tls: {ca_file: ca.pem, pins: ["%s"]}
    timeout: 10s
    limits: %s
clients:
  bench:
    token_sha256: %s
    providers: [socialeye]
    source_cidrs: [127.0.0.0/8]
`, simSrv.URL, simSrv.Pin, limits, hash)
	cfgPath := filepath.Join(dir, "intelgate.yaml")
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		tb.Fatalf("writing config: %v", err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		tb.Fatalf("loading config: %v", err)
	}
	// Access logs are formatted as in production, then discarded: the cost
	// of logging is part of the overhead being measured.
	// Pauses are counted: each one stops the key for every caller, so they
	// explain a throughput far below the configured rate.
	pauses := &lineCounter{match: []byte(`"msg":"upstream asked to slow down; key paused for every replica"`)}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewJSONHandler(pauses, nil)), app.Options{})
	if err != nil {
		tb.Fatalf("building gateway: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listening: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, ln) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("gateway: %v", err)
		}
		if err := a.Close(); err != nil {
			tb.Errorf("closing gateway: %v", err)
		}
	})

	conns := max(o.conns, 2)
	s := &stack{
		sim:    simSrv,
		gwURL:  "http://" + ln.Addr().String(),
		pauses: pauses,
		token:  token,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conns}},
		direct: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: conns,
			TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: simSrv.CertPool},
		}},
	}
	tb.Cleanup(s.client.CloseIdleConnections)
	tb.Cleanup(s.direct.CloseIdleConnections)
	return s
}

// lineCounter is an io.Writer for a slog JSON handler (one Write per
// record) that counts the records containing match and discards them all.
type lineCounter struct {
	match []byte
	n     atomic.Int64
}

func (c *lineCounter) Write(p []byte) (int, error) {
	if bytes.Contains(p, c.match) {
		c.n.Add(1)
	}
	return len(p), nil
}

// errStatus is a lookup that did not end in 200; retryAfter is the
// answer's Retry-After, when it had one.
type errStatus struct {
	code       int
	retryAfter time.Duration
}

func (e errStatus) Error() string { return fmt.Sprintf("status %d", e.code) }

// get sends one GET with a Bearer credential, drains the body and returns
// an errStatus for anything but 200, so callers can count 429s apart.
func get(ctx context.Context, c *http.Client, rawURL, bearer string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("sending request: %w", err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("reading body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		ra, _ := retryafter.Parse(resp.Header.Get("Retry-After"), time.Now())
		return errStatus{code: resp.StatusCode, retryAfter: ra}
	}
	return nil
}

// resolve asks the gateway's SocialEye drop-in about query.
func (s *stack) resolve(ctx context.Context, query string) error {
	return get(ctx, s.client, s.gwURL+"/v1/resolve?query="+url.QueryEscape(query), s.token)
}

// statusOf is the HTTP status of a get error (0 for transport errors).
func statusOf(err error) int {
	var es errStatus
	if errors.As(err, &es) {
		return es.code
	}
	return 0
}
