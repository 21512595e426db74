package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
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
	"github.com/intelgate/intelgate/internal/logwriter"
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
	// cache is the YAML flow mapping for providers.socialeye.cache; empty:
	// the defaults (on, ttl 1h).
	cache string
	conns int // idle connections the benchmark client keeps per host
	// storage, top and files are gatewayOptions'.
	storage, top string
	files        map[string][]byte
}

// stack is a running simulator (TLS, loopback) and a gateway in front of
// it, built by internal/app from a real config file, exactly as `intelgate
// serve` builds it.
type stack struct {
	*gateway
	sim    *sim.Server
	client *http.Client // plaintext client for the gateway (and nginx)
	direct *http.Client // TLS client trusting the simulator's certificate
}

// startStack starts both servers in this process; tb.Cleanup stops them.
func startStack(tb testing.TB, o stackOptions) *stack {
	tb.Helper()
	simSrv, err := sim.Start("127.0.0.1:0", true, sim.New(sim.Options{
		APIKeys: []string{simKey}, Rate: o.simRate, Burst: o.simBurst}))
	if err != nil {
		tb.Fatalf("starting simulator: %v", err)
	}
	tb.Cleanup(func() { _ = simSrv.Close() })
	gw := startGateway(tb, gatewayOptions{
		simURL: simSrv.URL, simPin: simSrv.Pin, simCA: simSrv.CAPEM, limits: o.limits, cache: o.cache,
		storage: o.storage, top: o.top, files: o.files})

	conns := max(o.conns, 2)
	s := &stack{
		gateway: gw,
		sim:     simSrv,
		client:  &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conns}},
		direct: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: conns,
			TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: simSrv.CertPool},
		}},
	}
	tb.Cleanup(s.client.CloseIdleConnections)
	tb.Cleanup(s.direct.CloseIdleConnections)
	return s
}

// gatewayOptions describe one gateway in front of a simulator.
type gatewayOptions struct {
	simURL string // https://127.0.0.1:PORT
	simPin string // sha256/… of the simulator's certificate
	simCA  []byte // its certificate, PEM (it is its own CA)
	limits string // as stackOptions.limits
	cache  string // as stackOptions.cache
	// upstreamConns is providers.socialeye.max_connections; 0: the default.
	upstreamConns int
	// perSource is server.max_connections_per_source; 0: the default.
	perSource int
	// storage is the YAML flow mapping for storage; empty: SQLite in the
	// gateway's directory. top is more top-level YAML (jobs:, …); files
	// are written to the gateway's directory first (a DSN, say).
	storage, top string
	files        map[string][]byte
	// logToFile writes the gateway's log (one JSON access-log line per
	// request) to a file through the buffered writer `intelgate serve`
	// uses, as nginx and Caddy write theirs, instead of discarding it
	// after formatting.
	logToFile bool
}

// gateway is a gateway running in this process, on a loopback port.
type gateway struct {
	gwURL  string
	token  string       // the bench client's gateway token
	pauses *lineCounter // gateway log lines announcing a paused upstream key (none counted with logToFile)
}

// startGateway builds a gateway from a real config file, exactly as
// `intelgate serve` does, and serves it until the benchmark ends.
func startGateway(tb testing.TB, o gatewayOptions) *gateway {
	tb.Helper()
	dir := tb.TempDir()
	token, hash, err := auth.NewToken()
	if err != nil {
		tb.Fatalf("making client token: %v", err)
	}
	files := map[string][]byte{"se.key": []byte(simKey + "\n"), "ca.pem": o.simCA}
	maps.Copy(files, o.files)
	storage := o.storage
	if storage == "" {
		storage = "{driver: sqlite, dsn: state.db}"
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			tb.Fatalf("writing %s: %v", name, err)
		}
	}
	limits := o.limits
	if limits == "" {
		limits = "{}"
	}
	var server, provider string
	if o.perSource > 0 {
		server = fmt.Sprintf(", max_connections_per_source: %d", o.perSource)
	}
	if o.upstreamConns > 0 {
		provider = fmt.Sprintf("\n    max_connections: %d", o.upstreamConns)
	}
	if o.cache != "" {
		provider += "\n    cache: " + o.cache
	}
	yaml := fmt.Sprintf(`
server: {listen: "127.0.0.1:0"%s}
storage: %s
%sproviders:
  socialeye:
    kind: socialeye
    base_url: %s
    keys: [{id: bench-1, secret: "file:se.key"}]
    tls: {ca_file: ca.pem, pins: ["%s"]}
    timeout: 10s
    limits: %s%s
clients:
  bench:
    token_sha256: %s
    providers: [socialeye]
    source_cidrs: [127.0.0.0/8]
`, server, storage, o.top, o.simURL, o.simPin, limits, provider, hash)
	cfgPath := filepath.Join(dir, "intelgate.yaml")
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		tb.Fatalf("writing config: %v", err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		tb.Fatalf("loading config: %v", err)
	}
	// Access logs are formatted as in production, then discarded (or
	// written to a file): the cost of logging is part of the overhead
	// being measured. Pauses are counted: each one stops the key for every
	// caller, so they explain a throughput far below the configured rate.
	pauses := &lineCounter{match: []byte(`"msg":"upstream asked to slow down; key paused for every replica"`)}
	var handler slog.Handler = slog.NewJSONHandler(pauses, nil)
	if o.logToFile {
		// Straight to the file, without the counter: the benchmarks that
		// log to a file measure the gateway's CPU, and searching every
		// line for the pause message is the harness's work, not the
		// gateway's (2% of its CPU on a cache hit). They report no pauses.
		f, err := os.Create(filepath.Join(dir, "gateway.log"))
		if err != nil {
			tb.Fatalf("creating gateway log: %v", err)
		}
		tb.Cleanup(func() { _ = f.Close() })
		// As `intelgate serve` writes its log: batched, warnings at once.
		out := logwriter.New(f, logwriter.Options{})
		tb.Cleanup(func() { _ = out.Close() })
		handler = out.Urgent(slog.NewJSONHandler(out, nil), slog.LevelWarn)
	}
	a, err := app.New(context.Background(), cfg, slog.New(handler), app.Options{})
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
	return &gateway{gwURL: "http://" + ln.Addr().String(), token: token, pauses: pauses}
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
