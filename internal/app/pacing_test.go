package app

import (
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/redistest"
	"github.com/intelgate/intelgate/internal/sim"
)

// govBurst sends n distinct lookups at once, spread round-robin over the
// gateways at bases, and returns every answer in order.
func govBurst(t *testing.T, c *govClient, bases []string, prefix string, n int) []govResp {
	t.Helper()
	res := make([]govResp, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { res[i], errs[i] = c.do(bases[i%len(bases)], govResolvePath(prefix, i)) })
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "lookup %d", i)
	}
	return res
}

// TestPacingBurstOfTenTimesRateDrawsNo429 is the pacing check: the
// simulator enforces R/s with a burst of R, the gateway is configured to the
// same limit, and 10×R distinct lookups arrive at once. The gateway must
// queue them (max_wait is long enough), send no more than its limit allows,
// and not be slower than the limit forces it to be.
//
// What the gateway controls is when it sends; the simulator judges when
// requests arrive, after each one's own trip through a TLS connection. The
// gateway keeps 100 ms of headroom for the difference, so with delivery
// delays that differ by less than that the simulator never says no (the
// benchmarks show 0 429s). A loaded 2-core machine under -race does not
// bound that difference (3 of 104 refused was seen while other test
// binaries ran), so "no 429" is not something this test can demand of the
// algorithm. What holds whatever the delays is the sender's bound, checked
// from the receiving end: a request never arrives before it was sent, so
// the k-th arrival after the burst starts can only come once the limiter
// allowed k sends (requireSentWithin). A 429 that does happen must cost
// exactly one retry and never reach the client. The test starts from warm
// connections, as a gateway in service has, so cold TLS handshakes do not
// add skew of their own.
func TestPacingBurstOfTenTimesRateDrawsNo429(t *testing.T) {
	t.Parallel()
	const rate = 10
	const n = 10 * rate
	s := startGovSim(t, sim.Options{Rate: rate, Burst: rate})
	token, hash := newGovToken(t)
	cfg := writeGovConfig(t, t.TempDir(), s, hash, govCfg{
		server:   "write_timeout: 30s",
		provider: "    limits: {rate: 10/s, burst: 10, max_wait: 20s}\n",
	})
	gw := runGovApp(t, cfg)
	c := newGovClient(t, token)

	// Warm one upstream connection per request of the burst, then let
	// both buckets refill.
	for i, r := range govBurst(t, c, []string{gw.url}, "warm", rate) {
		require.Equal(t, http.StatusOK, r.status, "warm-up %d: %s", i, r.body)
	}
	warmed := time.Now()
	full := govPoll(2*time.Second, 10*time.Millisecond, func() bool {
		// The simulator's bucket is full one interval after the warm-up
		// arrived, which was before its answer was read.
		k := govKeyStatus(t, c.quota(t, gw.url), "socialeye", "prod-1")
		return k.Rate != nil && k.Rate.Remaining >= k.Rate.Burst && time.Since(warmed) >= time.Second
	})
	require.True(t, full, "the buckets never refilled")
	burst := govKeyStatus(t, c.quota(t, gw.url), "socialeye", "prod-1").Rate.Burst // effective, after headroom
	before := len(s.Sim.Stats().Arrivals)

	start := time.Now()
	res := govBurst(t, c, []string{gw.url}, "pace", n)
	elapsed := time.Since(start)

	for i, r := range res {
		require.Equal(t, http.StatusOK, r.status, "lookup %d: %s", i, r.body)
	}
	st := s.Sim.Stats()
	t.Logf("%d lookups in %s; simulator: %d requests, peak %d/s, %d rate limited", n, elapsed.Round(time.Millisecond),
		st.Requests, st.PeakPerSecond, st.RateLimited)
	requireSentWithin(t, st.Arrivals[before:], start, burst, rate)
	require.Equal(t, rate+n+st.RateLimited, st.Requests,
		"one upstream call per distinct lookup, plus exactly one retry per 429")
	require.Len(t, st.ByQuery, rate+n)
	// GCRA with burst B admits B at once and then one per 1/R: the last of
	// n is admitted no earlier than (n-B)/R after the first.
	floor := time.Duration(n-rate) * time.Second / rate
	require.GreaterOrEqual(t, elapsed, floor, "faster than the limit allows")
	// Not wasteful either: the floor plus a margin for a loaded 2-core
	// machine under -race.
	require.Less(t, elapsed, floor+3*time.Second, "much slower than the limit requires")
}

// requireSentWithin checks a GCRA sender's bound from the receiver's
// arrival times: every arrival was sent at or before it arrived, and from
// start (when the bucket was full, before anything was sent) the limiter
// lets at most burst + rate·Δt requests go within Δt. So the k-th arrival
// (1-based) is never earlier than start + (k − burst)/rate. One unit of
// slack covers the rounding of GCRA's emission interval.
func requireSentWithin(t *testing.T, arrivals []time.Time, start time.Time, burst, rate int) {
	t.Helper()
	sorted := slices.SortedFunc(slices.Values(arrivals), time.Time.Compare)
	for i, at := range sorted {
		k := i + 1
		allowed := burst + 1 + int(at.Sub(start).Seconds()*float64(rate))
		require.LessOrEqual(t, k, allowed, "arrival %d came %s after the burst began: more than the limit can have sent",
			k, at.Sub(start).Round(time.Millisecond))
	}
}

// TestReplicasShareOneLimitThroughRedis runs three gateways, each with its
// own SQLite file, sharing one Redis, against one simulator limited to R/s.
// Lookups spread over the three must together stay within R: no 429 from
// the simulator, and the run takes as long as one shared limiter forces.
//
// The gateways' burst is 1, not the default R, so the shared limiter is
// the tightest it can be: three independent limiters would send 3R/s and
// be refused by the simulator within the first two seconds.
func TestReplicasShareOneLimitThroughRedis(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)
	const rate = 20
	const n = 4 * rate
	// The simulator judges arrivals, which lag admissions by the trip
	// through a replica, TLS and its accept loop. Its bucket of 2R is the
	// delivery jitter tolerated: arrivals admitted 1/R apart (burst 1) can
	// bunch by up to (2R-1)/R ≈ 2s without a 429 (a bucket of R, ≈1s, was
	// exceeded under -race on a loaded machine: 4 arrivals early, with
	// every admission on time). Three independent limiters would still be
	// refused: 3R/s for n lookups is n in n/3R s, beyond 2R + R·n/3R.
	s := startGovSim(t, sim.Options{Rate: rate, Burst: 2 * rate})
	token, hash := newGovToken(t)
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	shared := redisShared(t, url, dirs...)
	bases := make([]string, 0, len(dirs))
	for _, d := range dirs {
		cfg := writeGovConfig(t, d, s, hash, govCfg{
			server:   "write_timeout: 30s",
			provider: "    limits: {rate: 20/s, burst: 1, max_wait: 20s}\n",
			top:      shared,
		})
		bases = append(bases, runGovApp(t, cfg).url)
	}
	c := newGovClient(t, token)

	start := time.Now()
	res := govBurst(t, c, bases, "replica", n)
	elapsed := time.Since(start)

	for i, r := range res {
		require.Equal(t, http.StatusOK, r.status, "lookup %d via replica %d: %s", i, i%len(bases), r.body)
	}
	st := s.Sim.Stats()
	t.Logf("%d lookups over %d replicas in %s; simulator: %d requests, peak %d/s, %d rate limited", n, len(bases),
		elapsed.Round(time.Millisecond), st.Requests, st.PeakPerSecond, st.RateLimited)
	require.Zero(t, st.RateLimited, "the replicas together exceeded the simulator's limit")
	require.Equal(t, n, st.Requests)
	// At burst 1 the shared limiter spaces admissions ≥ 1/R apart, so n
	// lookups take at least (n-1)/R whichever replica they reach; three
	// independent limiters would have taken a third of that.
	require.GreaterOrEqual(t, elapsed, time.Duration(n-1)*time.Second/rate)
	requireSentWithin(t, st.Arrivals, start, 1, rate) // one limiter for the three: burst 1, R/s
	// The limit is also judged by the simulator's own bucket (R tokens at
	// R/s), above: no 429. Its per-second arrival count is not a
	// measure of the limiter: GCRA spaces admissions 1/R apart on Redis's
	// clock, but each request then travels through a replica, a TLS
	// connection and the simulator's accept loop, and on a loaded machine
	// those delays differ by more than 1/R, so arrivals bunch (23 in one
	// second was seen under -race) without any admission being early.
	t.Logf("peak arrivals in one wall-clock second: %d (limit %d/s)", st.PeakPerSecond, rate)
}
