package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// The cache-hit workload: a small fixed set of hot queries that both
// caches hold before anything is measured, so every measured request is a
// hit and the simulator is asked nothing at all.
const (
	hitQueries = 64 // hot-user-0 … hot-user-63, usernames to the gateway
	hitPrefix  = "hot-user"
	// hitCache is the gateway's provider cache: on, an hour (nginx keeps
	// 200s as long), far more than a run takes.
	hitCache = "{enabled: true, ttl: 1h}"
)

// hitHeaders say, per target, which response header tells a cache hit
// and its value on one: the gateway's own, and nginx's
// $upstream_cache_status (nginxCacheLocation adds it).
var hitHeaders = map[string][2]string{
	"gateway": {"X-Intelgate-Cache", "hit"},
	"nginx":   {"X-Cache-Status", "HIT"},
}

// BenchmarkCacheHit measures, in one run, cache hits of /v1/resolve served
// by the gateway (its hot in-process tier) and by nginx's proxy_cache, in
// front of the same simulator process, at 16, 64 and 256 wrk connections:
// throughput, p50/p99, each one's CPU per request and the gateway's
// allocations per request, with the same rounds, slices and accounting as
// BenchmarkOverhead (ovHarness).
//
// Both caches are warmed with the same queries before anything is
// measured, and checked: the second request for every query must be a
// hit (X-Intelgate-Cache: hit; nginx's X-Cache-Status: HIT), and the two
// bodies the same bytes. Then the simulator's request count is read
// before and after each concurrency's slices; sim_calls, their
// difference, must be 0 — else the benchmark fails, as it would have
// measured misses.
func BenchmarkCacheHit(b *testing.B) {
	h := startCacheHit(b)
	for _, c := range ovClients {
		b.Run(fmt.Sprintf("clients=%d", c), func(b *testing.B) {
			before := h.simRequests(b)
			h.bench(b, c)
			calls := h.simRequests(b) - before
			b.ReportMetric(float64(calls), "sim_calls")
			b.ReportMetric(float64(h.bodyBytes), "body_B")
			if calls != 0 {
				b.Fatalf("the simulator was asked %d times while only hits were measured: a cache missed", calls)
			}
		})
	}
}

// hitHarness is BenchmarkOverhead's harness with two caching targets and a
// way to read the simulator's request count.
type hitHarness struct {
	*ovHarness
	simClient *http.Client // TLS, trusting the simulator's certificate
	bodyBytes int          // size of one hot answer (the first query's)
	nginxDir  string       // nginx's prefix, for its error log
}

// errorLog is nginx's error log, to quote when it failed a request.
func (h *hitHarness) errorLog(t ovTarget) string {
	if t.name != "nginx" {
		return ""
	}
	data, err := os.ReadFile(filepath.Join(h.nginxDir, "error.log"))
	if err != nil {
		return fmt.Sprintf(" (reading nginx's error log: %v)", err)
	}
	return "\nnginx error log:\n" + string(data)
}

// startCacheHit starts the simulator process, a gateway with its cache on
// and nginx with proxy_cache, and warms both caches.
func startCacheHit(b *testing.B) *hitHarness {
	slice := ovSettings(b)
	w := newWrkScript(b, ovWrkThreads, wrkHotScript, strconv.Itoa(hitQueries))
	sp := startSimProcess(b)
	gw := startGateway(b, ovGatewayOptions(sp, hitCache))
	ng := startNginxCache(b, sp.url, sp.caPEM, ovPool)
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(sp.caPEM) {
		b.Fatal("simulator certificate: no PEM certificate")
	}
	h := &hitHarness{
		ovHarness: &ovHarness{sim: sp, wrk: w, slice: slice, hot: hitPrefix, targets: []ovTarget{
			{name: "gateway", url: gw.gwURL, bearer: gw.token, pid: 0},
			{name: "nginx", url: "http://" + ng.Addr, bearer: simKey, pid: ng.Pid},
		}},
		nginxDir: ng.Dir,
		simClient: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}}},
	}
	b.Cleanup(h.simClient.CloseIdleConnections)
	h.warm(b)
	return h
}

// warm asks every target for every hot query twice, in turn: the first
// answer fills its cache (one simulator call per query and target), the
// second must be a hit, and the gateway's and nginx's bodies must match.
func (h *hitHarness) warm(b *testing.B) {
	ctx := context.Background()
	c := &http.Client{Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	before := h.simRequests(b)
	bodies := map[string][]byte{} // query → the first target's body
	for _, t := range h.targets {
		for pass := range 2 {
			for i := range hitQueries {
				q := fmt.Sprintf("%s-%d", hitPrefix, i)
				body, hdr, err := fetch(ctx, c, t.url+"/v1/resolve?query="+url.QueryEscape(q), t.bearer)
				if err != nil {
					b.Fatalf("warming %s with %s: %v%s", t.name, q, err, h.errorLog(t))
				}
				if pass == 0 {
					continue
				}
				if name, want := hitHeaders[t.name][0], hitHeaders[t.name][1]; hdr.Get(name) != want {
					b.Fatalf("%s, second request for %s: %s %q, want %q", t.name, q, name, hdr.Get(name), want)
				}
				if first, ok := bodies[q]; !ok {
					bodies[q] = body
				} else if !bytes.Equal(first, body) {
					b.Fatalf("%s's hit for %s differs from %s's:\n%s\n%s", t.name, q, h.targets[0].name, body, first)
				}
			}
		}
	}
	h.bodyBytes = len(bodies[hitPrefix+"-0"])
	if calls, want := h.simRequests(b)-before, len(h.targets)*hitQueries; calls != want {
		b.Logf("warm-up asked the simulator %d times, want %d (one per query and cache)", calls, want)
	}
}

// simRequests is how many /v1/resolve requests the simulator process has
// seen (GET /_sim/stats).
func (h *hitHarness) simRequests(b *testing.B) int {
	resp, err := h.simClient.Get(h.sim.url + "/_sim/stats")
	if err != nil {
		b.Fatalf("reading simulator stats: %v", err)
	}
	defer resp.Body.Close()
	var st struct {
		Requests int `json:"requests"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		b.Fatalf("decoding simulator stats: %v", err)
	}
	return st.Requests
}

// fetch is get that keeps the answer: one GET with a Bearer credential,
// its body and headers; an errStatus for anything but 200.
func fetch(ctx context.Context, c *http.Client, rawURL, bearer string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("sending request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("reading body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, errStatus{code: resp.StatusCode}
	}
	return body, resp.Header, nil
}
