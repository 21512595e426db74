package app

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/sim"
)

// govDrainSim spends n units of key's bucket at the simulator directly, as
// another application sharing the vendor key would.
func govDrainSim(t *testing.T, s *sim.Server, key string, n int) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfigFor(s)}}
	defer hc.CloseIdleConnections()
	for i := range n {
		req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/v1/resolve?query=elsewhere-%d", s.URL, i), nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := hc.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
}

// TestUpstream429PausesTheKey runs a gateway whose configured rate (50/s)
// is far above what the simulator allows (2/s, burst 2), after another
// application has already spent the key's bucket. The gateway must learn
// from the upstream instead of hammering it: each 429 pauses the key for
// its Retry-After (1s here), and the lookup is retried after the pause.
func TestUpstream429PausesTheKey(t *testing.T) {
	t.Parallel()
	const simRate = 2
	s := startGovSim(t, sim.Options{Rate: simRate, Burst: simRate})
	token, hash := newGovToken(t)
	cfg := writeGovConfig(t, t.TempDir(), s, hash, govCfg{
		provider: "    limits: {rate: 50/s, max_wait: 5s}\n    retry: {max_attempts: 3, max_wait: 5s}\n",
	})
	gw := runGovApp(t, cfg)
	c := newGovClient(t, token)
	govDrainSim(t, s, simKey, simRate)

	// Sequential lookups all succeed. The first meets the bucket someone
	// else emptied; later ones may meet an empty bucket again (the gateway
	// may trust its own pace over a "remaining 0" hint), but no two 429s
	// can come less than the 1s pause apart, and each 429 costs exactly
	// one retry.
	const sequential = 4
	start := time.Now()
	for i := range sequential {
		r := c.get(t, gw.url, govResolvePath("seq", i))
		require.Equal(t, http.StatusOK, r.status, "lookup %d: %s", i, r.body)
	}
	elapsed := time.Since(start)
	st := s.Sim.Stats()
	t.Logf("%d sequential lookups in %s; simulator: %d requests, %d rate limited", sequential,
		elapsed.Round(time.Millisecond), st.Requests, st.RateLimited)
	require.GreaterOrEqual(t, st.RateLimited, 1, "the first lookup must have met the emptied bucket")
	require.Equal(t, simRate+sequential+st.RateLimited, st.Requests, "one retry per 429, no more")
	// Each 429 paused the key 1s before the next request: k of them take
	// at least k seconds, which is what "no storm" means for one key.
	require.GreaterOrEqual(t, elapsed, time.Duration(st.RateLimited)*time.Second, "a pause was cut short")

	// Concurrent lookups rush the upstream together (the governor's own
	// rate is 25× too high to spread them), so several draw 429s, and after
	// each shared pause the waiters rush again. That is bounded by the
	// retry budget, and every client gets an answer it can act on: 200, or
	// 429 with a Retry-After no longer than retry.max_wait.
	const concurrent = 4
	before := s.Sim.Stats()
	res := make([]govResp, concurrent)
	errs := make([]error, concurrent)
	var wg sync.WaitGroup
	for i := range concurrent {
		wg.Go(func() { res[i], errs[i] = c.do(gw.url, govResolvePath("herd", i)) })
	}
	wg.Wait()
	ok := 0
	for i, r := range res {
		require.NoError(t, errs[i])
		if r.status == http.StatusOK {
			ok++
			continue
		}
		ra := govRequireProblem(t, r, http.StatusTooManyRequests, "upstream-rate-limited")
		require.GreaterOrEqual(t, ra, 1)
		require.LessOrEqual(t, ra, 5, "Retry-After is capped by retry.max_wait")
	}
	after := s.Sim.Stats()
	calls, limited := after.Requests-before.Requests, after.RateLimited-before.RateLimited
	t.Logf("%d concurrent lookups: %d ok; simulator: %d requests, %d rate limited", concurrent, ok, calls, limited)
	require.Positive(t, ok)
	// Each lookup makes one first attempt; retries are capped by the
	// budget (10% of first attempts plus 1/s over its 10 s window).
	// That is at most 10 + (4+4)/10 → 10 retries here.
	require.LessOrEqual(t, calls, concurrent+10)
}

// TestRedisUnreachableAppliesFailMode points shared state at a closed
// loopback port. fail: closed refuses lookups with 503 unavailable and a
// Retry-After rather than calling upstream unpaced; fail: open calls
// upstream. Either way the gateway keeps serving and /readyz names the
// shared state: unavailable (503) when closed, degraded (200) when open.
// The Redis URL's password appears nowhere.
func TestRedisUnreachableAppliesFailMode(t *testing.T) {
	t.Parallel()
	const password = "redis-PASSWORD-d3adb33f"
	for _, mode := range []string{"closed", "open"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			addr := ln.Addr().String()
			require.NoError(t, ln.Close()) // nothing listens there now

			dir := t.TempDir()
			url := fmt.Sprintf("redis://:%s@%s/0", password, addr)
			require.NoError(t, os.WriteFile(filepath.Join(dir, "redis.url"), []byte(url+"\n"), 0o600))
			rcWriteKey(t, dir)
			s := startGovSim(t, sim.Options{})
			token, hash := newGovToken(t)
			cfg := writeGovConfig(t, dir, s, hash, govCfg{
				provider: "    limits: {rate: 10/s}\n",
				top: rcEncryption + fmt.Sprintf("shared: {driver: redis, url: \"file:redis.url\", fail: %s, timeout: 200ms, prefix: \"unused:\"}\n",
					mode),
			})
			gw := runGovApp(t, cfg)
			c := newGovClient(t, token)

			for i := range 3 {
				r := c.get(t, gw.url, govResolvePath("redisdown", i))
				if mode == "open" {
					require.Equal(t, http.StatusOK, r.status, string(r.body))
					continue
				}
				ra := govRequireProblem(t, r, http.StatusServiceUnavailable, "unavailable")
				require.GreaterOrEqual(t, ra, 1)
			}
			if mode == "closed" {
				require.Zero(t, s.Sim.Stats().Requests, "fail closed must not call upstream unpaced")
			} else {
				require.Equal(t, 3, s.Sim.Stats().Requests)
			}

			r := c.get(t, gw.url, "/readyz")
			if mode == "closed" {
				require.Equal(t, http.StatusServiceUnavailable, r.status, string(r.body))
				require.JSONEq(t, `{"status":"unavailable","checks":{"secrets":"ok","secrets_fresh":"ok","shared":"unavailable","store":"ok"}}`, string(r.body))
			} else {
				// Serving unpaced by choice: degraded, but still ready, so a
				// load balancer does not pull every replica at once.
				require.Equal(t, http.StatusOK, r.status, string(r.body))
				require.JSONEq(t, `{"status":"degraded","checks":{"secrets":"ok","secrets_fresh":"ok","shared":"degraded","store":"ok"}}`, string(r.body))
			}
			require.Equal(t, http.StatusOK, c.get(t, gw.url, "/healthz").status)
			require.NotContains(t, gw.logs.String(), password)
			require.NotContains(t, string(r.body), password)
		})
	}
}
