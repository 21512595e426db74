package monitor_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/monitor"
)

type quotaFunc func(context.Context) ([]monitor.QuotaGauge, error)

func (f quotaFunc) QuotaGauges(ctx context.Context) ([]monitor.QuotaGauge, error) {
	if f == nil {
		return nil, nil
	}
	return f(ctx)
}

type cacheFunc func() []monitor.TierStats

func (f cacheFunc) CacheStats() []monitor.TierStats {
	if f == nil {
		return nil
	}
	return f()
}

func staticQuota(gs ...monitor.QuotaGauge) quotaFunc {
	return func(context.Context) ([]monitor.QuotaGauge, error) { return gs, nil }
}

func TestScrapeTimeSources(t *testing.T) {
	t.Parallel()
	m := monitor.New(monitor.Options{
		Quota: staticQuota(
			monitor.QuotaGauge{Provider: "vt", KeyID: "vt-1", Period: "day", Remaining: 480, Limit: 500},
			monitor.QuotaGauge{Provider: "vt", KeyID: "vt-1", Period: "month", Remaining: 15000, Limit: 15500},
			monitor.QuotaGauge{Provider: "vt", KeyID: "vt-1", Period: "day", Remaining: 1, Limit: 1}, // duplicate: first wins
			monitor.QuotaGauge{Provider: "otx", KeyID: "otx-1", Period: "week", Remaining: 3, Limit: 9},
		),
		Cache: cacheFunc(func() []monitor.TierStats {
			return []monitor.TierStats{{Tier: "memory", Bytes: 4096, Entries: 12}, {Tier: "durable", Bytes: 1 << 20, Entries: 300}}
		}),
	})
	const want = `
# HELP intelgate_quota_remaining Upstream key quota units left in the current period (day, month).
# TYPE intelgate_quota_remaining gauge
intelgate_quota_remaining{key_id="otx-1",period="other",provider="otx"} 3
intelgate_quota_remaining{key_id="vt-1",period="day",provider="vt"} 480
intelgate_quota_remaining{key_id="vt-1",period="month",provider="vt"} 15000
# HELP intelgate_quota_limit Upstream key quota units per period (day, month).
# TYPE intelgate_quota_limit gauge
intelgate_quota_limit{key_id="otx-1",period="other",provider="otx"} 9
intelgate_quota_limit{key_id="vt-1",period="day",provider="vt"} 500
intelgate_quota_limit{key_id="vt-1",period="month",provider="vt"} 15500
# HELP intelgate_cache_bytes Bytes held by a cache tier (memory, durable), read at scrape time.
# TYPE intelgate_cache_bytes gauge
intelgate_cache_bytes{tier="durable"} 1.048576e+06
intelgate_cache_bytes{tier="memory"} 4096
# HELP intelgate_cache_entries Entries held by a cache tier (memory, durable), read at scrape time.
# TYPE intelgate_cache_entries gauge
intelgate_cache_entries{tier="durable"} 300
intelgate_cache_entries{tier="memory"} 12
# HELP intelgate_metrics_collect_errors_total Scrape-time sources (quota, cache) that failed or did not answer within the collect timeout; their series were left out of that scrape.
# TYPE intelgate_metrics_collect_errors_total counter
intelgate_metrics_collect_errors_total{source="cache"} 0
intelgate_metrics_collect_errors_total{source="quota"} 0
`
	require.NoError(t, testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"intelgate_quota_remaining", "intelgate_quota_limit", "intelgate_cache_bytes", "intelgate_cache_entries",
		"intelgate_metrics_collect_errors_total"))
}

func TestNoSourcesNoSeries(t *testing.T) {
	t.Parallel()
	m := monitor.New(monitor.Options{})
	n, err := testutil.GatherAndCount(m.Registry(), "intelgate_quota_remaining", "intelgate_quota_limit",
		"intelgate_cache_bytes", "intelgate_cache_entries", "intelgate_metrics_collect_errors_total")
	require.NoError(t, err)
	require.Zero(t, n)
}

// TestFailingSourcesAreSkippedAndCounted: a source that errs, panics or
// does not answer in time costs its own series only, and each failure is
// counted.
func TestFailingSourcesAreSkippedAndCounted(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		quota quotaFunc
		cache cacheFunc
	}{
		{name: "quota errs", quota: func(context.Context) ([]monitor.QuotaGauge, error) {
			return []monitor.QuotaGauge{{Provider: "vt", KeyID: "k", Period: "day"}}, errors.New("redis: connection refused")
		}},
		{name: "quota honours its deadline", quota: func(ctx context.Context) ([]monitor.QuotaGauge, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}},
		{name: "quota panics", quota: func(context.Context) ([]monitor.QuotaGauge, error) { panic("bug") }},
		{name: "cache panics", cache: func() []monitor.TierStats { panic("bug") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := monitor.Options{CollectTimeout: 50 * time.Millisecond}
			source := "cache"
			if tc.quota != nil {
				o.Quota, source = tc.quota, "quota"
			}
			if tc.cache != nil {
				o.Cache = tc.cache
			}
			m := monitor.New(o)
			code, body := scrape(t, m.Handler())
			require.Equal(t, 200, code)
			require.Contains(t, body, `intelgate_metrics_collect_errors_total{source="`+source+`"} 1`)
			require.NotContains(t, body, "intelgate_quota_remaining{")
			require.NotContains(t, body, "intelgate_cache_bytes{")
			require.Contains(t, body, "go_goroutines", "the rest of the scrape is served")
		})
	}
}

// TestStuckQuotaSourceDoesNotHangScrapes: a source that ignores its
// context and never returns (a Redis call without a deadline) delays each
// scrape by the collect timeout at most, and is not called again while
// stuck, so it costs one goroutine, not one per scrape.
func TestStuckQuotaSourceDoesNotHangScrapes(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var calls atomic.Int32
	m := monitor.New(monitor.Options{
		CollectTimeout: 50 * time.Millisecond,
		Quota: quotaFunc(func(context.Context) ([]monitor.QuotaGauge, error) {
			calls.Add(1)
			<-release // until the test ends: the scrapes below must return without it
			return nil, nil
		}),
	})
	for i := 1; i <= 3; i++ {
		code, body := scrape(t, m.Handler())
		require.Equal(t, 200, code)
		require.Contains(t, body, `intelgate_metrics_collect_errors_total{source="quota"} `+string(rune('0'+i)))
	}
	require.Equal(t, int32(1), calls.Load())
}
