package monitor_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/monitor"
)

// samples gathers g and returns every sample of the named families (of
// every intelgate_ family when none is named), keyed as the text format
// writes it (name{label="v",…}); histograms give their _count and _sum.
func samples(t *testing.T, g prometheus.Gatherer, names ...string) map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		if len(names) > 0 && !contains(names, mf.GetName()) ||
			len(names) == 0 && !strings.HasPrefix(mf.GetName(), "intelgate_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			key := func(suffix string) string { return mf.GetName() + suffix + labels(m) }
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[key("")] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key("")] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[key("_count")] = float64(m.GetHistogram().GetSampleCount())
				out[key("_sum")] = m.GetHistogram().GetSampleSum()
			default:
				t.Fatalf("unexpected type %s of %s", mf.GetType(), mf.GetName())
			}
		}
	}
	return out
}

func labels(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return ""
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func contains(set []string, s string) bool {
	for _, v := range set {
		if v == s {
			return true
		}
	}
	return false
}

// scrape serves one GET /metrics from h and returns the status and body.
func scrape(t *testing.T, h http.Handler) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, err := io.ReadAll(rec.Result().Body)
	require.NoError(t, err)
	return rec.Code, string(body)
}

func TestNewUsesItsOwnRegistry(t *testing.T) {
	t.Parallel()
	a, b := monitor.New(monitor.Options{}), monitor.New(monitor.Options{}) // a second New must not collide
	require.NotSame(t, a.Registry(), b.Registry())

	for _, name := range []string{"go_goroutines", "process_start_time_seconds"} {
		n, err := testutil.GatherAndCount(a.Registry(), name)
		require.NoError(t, err)
		require.Equal(t, 1, n, name)
	}
	mfs, err := prometheus.DefaultGatherer.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		require.False(t, strings.HasPrefix(mf.GetName(), "intelgate_"), "%s on the default registry", mf.GetName())
	}
}

func TestEveryMetricIsNamedAndDocumented(t *testing.T) {
	t.Parallel()
	m := monitor.New(monitor.Options{Providers: []string{"p"}, Quota: staticQuota(monitor.QuotaGauge{Provider: "p", KeyID: "k", Period: "day"}),
		Cache: cacheFunc(func() []monitor.TierStats { return []monitor.TierStats{{Tier: "memory"}} })})
	observeAll(t, m, lookupSequence())
	observeAll(t, m, durableSequence())
	observeAll(t, m, keySequence())
	m.WatchKeyAges(keyAges{{Provider: "p", KeyID: "k", ChangedAt: time.Now().Add(-time.Hour)}})
	m.Alerts([]string{"quota"}, []string{"log"}).Suppressed("quota")
	j := m.Jobs()
	j.WatchJobs(jobCounts{1, 2, 3})
	j.Submitted(3)
	j.ItemStarted(time.Second)
	j.ItemFinished("done", time.Second)
	j.Webhook("p", "standard", "queued")
	serveAPI(t, recorded(m, apiMux()))
	mfs, err := m.Registry().Gather()
	require.NoError(t, err)
	seen := 0
	for _, mf := range mfs {
		name := mf.GetName()
		if !strings.HasPrefix(name, "intelgate_") {
			continue
		}
		seen++
		require.NotEmpty(t, mf.GetHelp(), name)
		if mf.GetType() == dto.MetricType_COUNTER {
			require.True(t, strings.HasSuffix(name, "_total"), "counter %s lacks _total", name)
		}
	}
	require.Equal(t, 60, seen, "a new metric? add it to docs/metrics.md and here")
}

func TestWithDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   time.Duration
		want time.Duration
	}{
		{"zero takes the default", 0, monitor.DefaultCollectTimeout},
		{"kept when short", 300 * time.Millisecond, 300 * time.Millisecond},
		{"capped so a slow source cannot hang a scrape", time.Minute, monitor.MaxCollectTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := monitor.Options{CollectTimeout: tc.in}.WithDefaults()
			require.Equal(t, tc.want, o.CollectTimeout)
			require.NotNil(t, o.Log)
		})
	}
}

type jobCounts [3]int

func (c jobCounts) JobGauges(context.Context) (int, int, int, error) { return c[0], c[1], c[2], nil }
