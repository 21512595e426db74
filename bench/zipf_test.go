package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The upstream-efficiency workload: many applications asking about a
// skewed set of indicators, as SOC enrichment does (a few hot indicators,
// a long tail). The simulator enforces the same limit the gateway is
// configured with, so every 429 it sends is a pacing failure of ours.
const (
	zipfClients    = 32
	zipfLookups    = 2000
	zipfIndicators = 1000 // ranks 0..999
	zipfS          = 1.1  // Zipf exponent: rank k is asked ∝ 1/(1+k)^s
	zipfSeed       = 42
	zipfRate       = 200 // per second, gateway and simulator alike
	zipfBurst      = 20
	// zipfCache is the gateway's cache for the run: on, and an hour is far
	// longer than the few seconds a run takes, so no answer expires before
	// its indicator is asked again. Not found answers do not occur (no
	// query starts with the simulator's not-found prefix).
	zipfCache = "{enabled: true, ttl: 1h}"
)

// zipfWorkload is the fixed, seeded sequence of queries and the number of
// distinct ones among them.
func zipfWorkload() ([]string, int) {
	r := rand.New(rand.NewPCG(zipfSeed, zipfSeed))
	z := rand.NewZipf(r, zipfS, 1, zipfIndicators-1)
	qs := make([]string, zipfLookups)
	seen := map[string]bool{}
	for i := range qs {
		qs[i] = fmt.Sprintf("zipf-user-%04d", z.Uint64())
		seen[qs[i]] = true
	}
	return qs, len(seen)
}

// BenchmarkUpstreamEfficiency reports how many upstream calls the gateway
// made per distinct indicator (floor 1.00 with the cache on: one call per
// indicator, every repeat a hit or a share of the call in flight; with it
// off, coalescing alone removes only duplicates that are in flight at the
// same moment, 2.9), next to lookups/unique, the ratio with no
// deduplication at all. The simulator's per-query counts say how many
// indicators were asked upstream more than once (repeated_queries) and
// the most calls any one of them cost (max_calls/query); both are 0 and 1
// at the floor.
//
// equal_limits is the acceptance setting: the gateway is configured with
// exactly the limit the simulator enforces, and sim_429s must be 0. The two
// other runs are diagnostics that tell pacing precision apart from burst
// handling: half_burst keeps the rate but leaves half the upstream's burst
// unused, headroom_10pct paces 10% below both rate and burst.
func BenchmarkUpstreamEfficiency(b *testing.B) {
	b.Run("equal_limits", func(b *testing.B) {
		benchZipf(b, fmt.Sprintf("{rate: %d/s, burst: %d}", zipfRate, zipfBurst))
	})
	b.Run("half_burst", func(b *testing.B) {
		benchZipf(b, fmt.Sprintf("{rate: %d/s, burst: %d}", zipfRate, zipfBurst/2))
	})
	b.Run("headroom_10pct", func(b *testing.B) {
		benchZipf(b, fmt.Sprintf("{rate: %d/s, burst: %d}", zipfRate*9/10, zipfBurst*9/10))
	})
}

func benchZipf(b *testing.B, gatewayLimits string) {
	qs, unique := zipfWorkload()
	var calls, sim429, gwFailed, pauses, peak, repeated, maxPerQuery float64
	var elapsed time.Duration
	for range b.N {
		b.StopTimer()
		s := startStack(b, stackOptions{simRate: zipfRate, simBurst: zipfBurst, conns: zipfClients,
			limits: gatewayLimits, cache: zipfCache})
		b.StartTimer()
		o := runLoad(context.Background(), zipfClients, len(qs), func(ctx context.Context, i int) error {
			return s.resolve(ctx, qs[i])
		})
		b.StopTimer()
		st := s.sim.Sim.Stats()
		calls += float64(st.Requests)
		sim429 += float64(st.RateLimited)
		gwFailed += float64(o.failed())
		pauses += float64(s.pauses.n.Load())
		peak = max(peak, float64(st.PeakPerSecond))
		for _, c := range st.ByQuery {
			maxPerQuery = max(maxPerQuery, float64(c))
			if c > 1 {
				repeated++
			}
		}
		if len(st.ByQuery) != unique {
			b.Logf("the simulator was asked about %d distinct queries, the workload has %d", len(st.ByQuery), unique)
		}
		elapsed += o.elapsed
		if o.failed() > 0 {
			b.Logf("gateway answers other than 200: %v", o.statuses)
		}
		if st.RateLimited > 0 {
			b.Logf("simulator sent %d 429s (statuses %v, peak %d/s against a limit of %d/s burst %d)",
				st.RateLimited, st.ByStatus, st.PeakPerSecond, zipfRate, zipfBurst)
		}
	}
	n := float64(b.N)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(calls/n/float64(unique), "calls/unique")
	b.ReportMetric(float64(len(qs))/float64(unique), "lookups/unique")
	b.ReportMetric(float64(unique), "unique")
	b.ReportMetric(calls/n, "upstream_calls")
	b.ReportMetric(sim429/n, "sim_429s")
	b.ReportMetric(gwFailed/n, "client_non200")
	b.ReportMetric(pauses/n, "key_pauses")
	b.ReportMetric(peak, "peak_per_s")
	b.ReportMetric(repeated/n, "repeated_queries")
	b.ReportMetric(maxPerQuery, "max_calls/query")
	b.ReportMetric(float64(len(qs))*n/elapsed.Seconds(), "lookups/s")
}

// TestZipfWorkloadIsFixed pins the workload: the numbers in
// docs/benchmarks.md are only comparable while it stays the same.
func TestZipfWorkloadIsFixed(t *testing.T) {
	t.Parallel()
	a, ua := zipfWorkload()
	b, ub := zipfWorkload()
	require.Equal(t, a, b, "the Zipf workload must be deterministic")
	require.Equal(t, ua, ub)
	require.Len(t, a, zipfLookups)
	require.Greater(t, ua, 1)
	require.Less(t, ua, len(a), "a Zipf workload repeats its hot indicators")
}
