package monitor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// QuotaSource reports every upstream key's calendar quotas at scrape time
// (the integrator reads them from the governor, which may ask Redis or
// SQLite). QuotaGauges must honour ctx: it is cancelled after
// Options.CollectTimeout and the scrape goes on without quota series.
type QuotaSource interface {
	QuotaGauges(ctx context.Context) ([]QuotaGauge, error)
}

// QuotaGauge is one key's quota for one period.
type QuotaGauge struct {
	Provider, KeyID string
	Period          string // "day" or "month"
	Remaining       int64
	Limit           int64
}

// CacheSource reports each cache tier's size at scrape time.
type CacheSource interface {
	CacheStats() []TierStats
}

// TierStats is one cache tier's size.
type TierStats struct {
	Tier           string // "memory" or "durable"
	Bytes, Entries int64
}

// errBusy: the previous call to a source has not returned yet.
var errBusy = errors.New("previous call still running")

// sourceCollector reads the scrape-time sources, each bounded by timeout,
// and exports their failures beside their values.
type sourceCollector struct {
	quota   QuotaSource
	cache   CacheSource
	timeout time.Duration

	quotaBusy, cacheBusy atomic.Bool

	quotaRemaining, quotaLimit *prometheus.Desc
	cacheBytes, cacheEntries   *prometheus.Desc
	errors                     *prometheus.CounterVec // source
}

func newSourceCollector(q QuotaSource, c CacheSource, timeout time.Duration) *sourceCollector {
	quotaLabels := []string{"provider", "key_id", "period"}
	s := &sourceCollector{quota: q, cache: c, timeout: timeout,
		quotaRemaining: prometheus.NewDesc("intelgate_quota_remaining",
			"Upstream key quota units left in the current period (day, month).", quotaLabels, nil),
		quotaLimit: prometheus.NewDesc("intelgate_quota_limit",
			"Upstream key quota units per period (day, month).", quotaLabels, nil),
		cacheBytes: prometheus.NewDesc("intelgate_cache_bytes",
			"Bytes held by a cache tier (memory, durable), read at scrape time.", []string{"tier"}, nil),
		cacheEntries: prometheus.NewDesc("intelgate_cache_entries",
			"Entries held by a cache tier (memory, durable), read at scrape time.", []string{"tier"}, nil),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "intelgate_metrics_collect_errors_total",
			Help: "Scrape-time sources (quota, cache) that failed or did not answer within the collect timeout; their series were left out of that scrape."},
			[]string{"source"}),
	}
	if q != nil {
		s.errors.WithLabelValues("quota")
	}
	if c != nil {
		s.errors.WithLabelValues("cache")
	}
	return s
}

func (s *sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- s.quotaRemaining
	ch <- s.quotaLimit
	ch <- s.cacheBytes
	ch <- s.cacheEntries
	s.errors.Describe(ch)
}

// Collect reads the sources, then the error counter, so a scrape already
// shows its own failures.
func (s *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	if s.quota != nil {
		s.collectQuota(ch)
	}
	if s.cache != nil {
		s.collectCache(ch)
	}
	s.errors.Collect(ch)
}

func (s *sourceCollector) collectQuota(ch chan<- prometheus.Metric) {
	gauges, err := bounded(&s.quotaBusy, s.timeout, s.quota.QuotaGauges)
	if err != nil {
		s.errors.WithLabelValues("quota").Inc()
		return
	}
	// A duplicate series would fail the whole gather: the first wins.
	seen := make(map[[3]string]bool, len(gauges))
	for _, g := range gauges {
		lv := [3]string{name(g.Provider), name(g.KeyID), oneOf(g.Period, quotaPeriods)}
		if seen[lv] {
			continue
		}
		seen[lv] = true
		ch <- prometheus.MustNewConstMetric(s.quotaRemaining, prometheus.GaugeValue, float64(g.Remaining), lv[:]...)
		ch <- prometheus.MustNewConstMetric(s.quotaLimit, prometheus.GaugeValue, float64(g.Limit), lv[:]...)
	}
}

func (s *sourceCollector) collectCache(ch chan<- prometheus.Metric) {
	stats, err := bounded(&s.cacheBusy, s.timeout, func(context.Context) ([]TierStats, error) {
		return s.cache.CacheStats(), nil
	})
	if err != nil {
		s.errors.WithLabelValues("cache").Inc()
		return
	}
	var seen []string
	for _, t := range stats {
		tier := oneOf(t.Tier, cacheTiers)
		if slices.Contains(seen, tier) {
			continue
		}
		seen = append(seen, tier)
		ch <- prometheus.MustNewConstMetric(s.cacheBytes, prometheus.GaugeValue, float64(t.Bytes), tier)
		ch <- prometheus.MustNewConstMetric(s.cacheEntries, prometheus.GaugeValue, float64(t.Entries), tier)
	}
}

// bounded calls f on a goroutine of its own and waits at most timeout. A
// source that ignores its context cannot hang the scrape; and while an
// earlier call is still running, busy refuses a new one, so a stuck
// backend costs one goroutine rather than one per scrape. A panicking
// source fails the call instead of the process.
func bounded[T any](busy *atomic.Bool, timeout time.Duration, f func(context.Context) (T, error)) (T, error) {
	var zero T
	if !busy.CompareAndSwap(false, true) {
		return zero, errBusy
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan result[T], 1) // never blocks the goroutine once we stop waiting
	go func() {
		r := call(ctx, f)
		busy.Store(false) // before the answer: the next scrape may start at once
		done <- r
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		select {
		case r := <-done: // it answered just in time
			return r.v, r.err
		default:
		}
		return zero, fmt.Errorf("waiting for source: %w", ctx.Err())
	}
}

type result[T any] struct {
	v   T
	err error
}

func call[T any](ctx context.Context, f func(context.Context) (T, error)) (r result[T]) {
	defer func() {
		if p := recover(); p != nil {
			r = result[T]{err: fmt.Errorf("source panicked: %v", p)}
		}
	}()
	v, err := f(ctx)
	return result[T]{v, err}
}

// breakerCollector exports each provider's breaker state as one series per
// state, 1 for the current one (Prometheus's enum pattern). It keeps the
// current state itself, so a scrape sees one consistent state per provider
// rather than gauges caught mid-update.
type breakerCollector struct {
	desc  *prometheus.Desc
	mu    sync.Mutex
	state map[string]string // provider → state
}

func newBreakerCollector(providers []string) *breakerCollector {
	b := &breakerCollector{state: make(map[string]string, len(providers)),
		desc: prometheus.NewDesc("intelgate_breaker_state",
			"Circuit breaker state of a provider on this replica: 1 for the current state (closed, half-open, open), 0 for the others.",
			[]string{"provider", "state"}, nil)}
	for _, p := range providers {
		b.state[name(p)] = "closed"
	}
	return b
}

func (b *breakerCollector) set(provider, state string) {
	b.mu.Lock()
	b.state[provider] = state
	b.mu.Unlock()
}

func (b *breakerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- b.desc }

func (b *breakerCollector) Collect(ch chan<- prometheus.Metric) {
	b.mu.Lock()
	snapshot := maps.Clone(b.state)
	b.mu.Unlock()
	for provider, current := range snapshot {
		for _, st := range breakerStates {
			v := 0.0
			if st == current {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(b.desc, prometheus.GaugeValue, v, provider, st)
		}
		if current == other {
			ch <- prometheus.MustNewConstMetric(b.desc, prometheus.GaugeValue, 1, provider, other)
		}
	}
}
