// Package monitor turns what the request path reports (internal/observe)
// and what the HTTP layer serves into Prometheus metrics on a registry of
// its own, and serves them.
//
// Labels come only from bounded sets: provider, key, client, environment
// and rule names from the configuration, and fixed enums for the rest. An
// event field is a plain string, so a bug elsewhere could put anything in
// it; enum-like values outside their set become "other" and name-like
// values are capped in length, so such a bug can neither explode the
// number of series nor smuggle an indicator or token into a label.
package monitor

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Options configures New. The zero value is usable: no scrape-time
// sources, no providers known in advance, logs discarded.
type Options struct {
	// Providers are the configured provider names. Their breaker state is
	// exported as closed from the start, so a dashboard sees every
	// provider before its first transition.
	Providers []string
	// Quota, when set, is read at each scrape for the remaining and total
	// quota of every key.
	Quota QuotaSource
	// Cache, when set, is read at each scrape for the size of each tier.
	Cache CacheSource
	// CollectTimeout bounds each scrape-time source call, so a slow Redis
	// cannot hang a scrape. Default DefaultCollectTimeout; values above
	// MaxCollectTimeout are lowered to it.
	CollectTimeout time.Duration
	// Log receives errors of the /metrics handler. Default: discarded.
	Log *slog.Logger
}

const (
	// DefaultCollectTimeout is Options.CollectTimeout's default.
	DefaultCollectTimeout = time.Second
	// MaxCollectTimeout is the most a scrape waits for one source: well
	// inside Prometheus's default 10s scrape timeout even with both sources
	// slow.
	MaxCollectTimeout = 2 * time.Second
)

// WithDefaults returns o with its zero fields set to their defaults.
func (o Options) WithDefaults() Options {
	if o.CollectTimeout <= 0 {
		o.CollectTimeout = DefaultCollectTimeout
	}
	o.CollectTimeout = min(o.CollectTimeout, MaxCollectTimeout)
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// Bucket layouts. Upstream calls run from a few milliseconds (a near
// vendor) to the transport's 30s ceiling; lookups and HTTP requests add
// sub-millisecond cache hits at the bottom; governor waits are mostly zero
// and at most max_wait.
var (
	upstreamBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30}
	requestBuckets  = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	waitBuckets     = []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
)

// Metrics is the gateway's metric set. It is an observe.Observer for the
// request path, an HTTP middleware for the API, and the /metrics handler.
// Safe for concurrent use.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	upstreamCalls   *prometheus.CounterVec   // provider, key_id, outcome
	upstreamLatency *prometheus.HistogramVec // provider

	governorWait     *prometheus.HistogramVec // provider
	governorOutcomes *prometheus.CounterVec   // provider, outcome

	breaker            *breakerCollector
	breakerTransitions *prometheus.CounterVec // provider, from, to

	lookups       *prometheus.CounterVec   // provider, status, cache, operation
	lookupErrors  *prometheus.CounterVec   // provider, kind
	lookupLatency *prometheus.HistogramVec // provider, cache
	coalesced     *prometheus.CounterVec   // provider
	withheld      *prometheus.CounterVec   // provider, rule

	refused        *prometheus.CounterVec // client, kind
	clientRequests *prometheus.CounterVec // client, environment

	keyChecks       *prometheus.CounterVec // provider, reason, verdict
	keyRevocations  *prometheus.CounterVec // provider, key_id, renewed
	keyRestorations *prometheus.CounterVec // provider, key_id
	keySwaps        *prometheus.CounterVec // provider

	cacheReads         *prometheus.CounterVec // provider, tier, outcome
	cacheWrites        *prometheus.CounterVec // provider, tier, result
	cacheWrittenBytes  *prometheus.CounterVec // provider, tier
	cacheEvictions     *prometheus.CounterVec // provider, reason
	cachePurges        *prometheus.CounterVec // reason
	cachePurgedEntries *prometheus.CounterVec // reason

	httpRequests *prometheus.CounterVec   // route, method, code_class
	httpDuration *prometheus.HistogramVec // route

	durable durableMetrics
	keys    keyMetrics
}

// New builds the metric set on a registry of its own (never the global
// default, so tests and several gateways in one process do not collide),
// with the Go runtime and process collectors beside ours.
func New(o Options) *Metrics {
	o = o.WithDefaults()
	m := &Metrics{reg: prometheus.NewRegistry()}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		m.reg.MustRegister(v)
		return v
	}
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
		m.reg.MustRegister(v)
		return v
	}

	m.upstreamCalls = counter("intelgate_upstream_requests_total",
		"Calls to a provider's upstream, one per attempt (retries included; key checks are in intelgate_key_checks_total), by key and outcome: ok (an answer, found or not), not_sent (failed before anything left: no unit spent), or the upstream error kind.",
		"provider", "key_id", "outcome")
	m.upstreamLatency = histogram("intelgate_upstream_request_duration_seconds",
		"Duration of upstream calls that were sent, whatever their outcome.",
		upstreamBuckets, "provider")

	m.governorWait = histogram("intelgate_governor_wait_seconds",
		"Time an attempt waited in the provider governor for a key within rate, quota and pauses, whatever the outcome.",
		waitBuckets, "provider")
	m.governorOutcomes = counter("intelgate_governor_acquisitions_total",
		"Governor key acquisitions by outcome: acquired, or the rejection reason (rate, day_quota, month_quota, paused, no_keys, unavailable, deadline, canceled, error).",
		"provider", "outcome")

	m.breaker = newBreakerCollector(o.Providers)
	m.reg.MustRegister(m.breaker)
	m.breakerTransitions = counter("intelgate_breaker_transitions_total",
		"Circuit breaker state changes, by provider and states.", "provider", "from", "to")

	m.lookups = counter("intelgate_lookups_total",
		"Provider results decided for a caller's lookup, by status (ok, not_found, error, withheld), cache source (hit, miss, stale, bypass, off) and operation (lookup, resolve). A coalesced caller counts here too.",
		"provider", "status", "cache", "operation")
	m.lookupErrors = counter("intelgate_lookup_errors_total",
		"Provider results that ended in error, by the problem kind the caller received.", "provider", "kind")
	m.lookupLatency = histogram("intelgate_lookup_duration_seconds",
		"Time to decide one provider's result for a caller, from cache or upstream.",
		requestBuckets, "provider", "cache")
	m.coalesced = counter("intelgate_lookups_coalesced_total",
		"Provider results a caller got by sharing an identical in-flight call instead of making its own.", "provider")
	m.withheld = counter("intelgate_lookups_withheld_total",
		"Lookups not sent to a provider because query minimisation forbids it, by the rule that matched.", "provider", "rule")

	m.refused = counter("intelgate_requests_refused_total",
		"Requests answered before any provider was called (bad input, scope, the client's own limits), by client and problem kind.",
		"client", "kind")
	m.clientRequests = counter("intelgate_client_requests_total",
		"Requests admitted for lookup (valid, in scope, within the client's own limits), by client and environment.",
		"client", "environment")

	m.keyChecks = counter("intelgate_key_checks_total",
		"Auth checks of upstream keys, by reason (suspect, recheck) and verdict (passed, refused, inconclusive).",
		"provider", "reason", "verdict")
	m.keyRevocations = counter("intelgate_key_revocations_total",
		"Upstream keys taken out of rotation after a refused auth check; renewed=true when an existing revocation was extended.",
		"provider", "key_id", "renewed")
	m.keyRestorations = counter("intelgate_key_restorations_total",
		"Revoked upstream keys back in rotation after passing a re-check.", "provider", "key_id")
	m.keySwaps = counter("intelgate_key_pool_swaps_total",
		"Replacements of a provider's key pool while serving.", "provider")

	m.cacheReads = counter("intelgate_cache_reads_total",
		"Cache tier reads, by tier (memory, durable) and outcome (hit, stale, miss, error, corrupt).",
		"provider", "tier", "outcome")
	m.cacheWrites = counter("intelgate_cache_writes_total",
		"Cache tier writes, by result (ok, error).", "provider", "tier", "result")
	m.cacheWrittenBytes = counter("intelgate_cache_written_bytes_total",
		"Body bytes stored by successful cache writes.", "provider", "tier")
	m.cacheEvictions = counter("intelgate_cache_evictions_total",
		"Entries the hot tier dropped, by reason (size, expired).", "provider", "reason")
	m.cachePurges = counter("intelgate_cache_purges_total",
		"Cache purges, by reason (admin, key_revoked, key_rotated).", "reason")
	m.cachePurgedEntries = counter("intelgate_cache_purged_entries_total",
		"Durable cache entries removed by purges, by reason.", "reason")

	m.httpRequests = counter("intelgate_http_requests_total",
		"HTTP requests served, by matched route pattern (unmatched when none), method and status class.",
		"route", "method", "code_class")
	m.httpDuration = histogram("intelgate_http_request_duration_seconds",
		"Time to serve an HTTP request, by matched route pattern.", requestBuckets, "route")

	m.registerDurable()
	m.registerKeys()
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newSourceCollector(o.Quota, o.Cache, o.CollectTimeout),
	)
	m.handler = newHandler(m.reg, o.Log)
	return m
}

// Registry is the metric set's own registry: a feature with metrics of its
// own registers them here, and tests gather from it.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }
