package monitor

import (
	"context"
	"slices"
	"unicode/utf8"

	"github.com/intelgate/intelgate/internal/observe"
	"github.com/intelgate/intelgate/internal/upstream"
)

var _ observe.Observer = (*Metrics)(nil)

// Observe turns one step of the request path into metrics. It runs on the
// request path, so it only updates counters: no locks of ours beyond the
// breaker's map, no I/O, nothing that can block.
func (m *Metrics) Observe(_ context.Context, e observe.Event) {
	switch e := e.(type) {
	case observe.Attempted:
		provider := name(e.Provider)
		m.upstreamCalls.WithLabelValues(provider, name(e.KeyID), attemptOutcome(e)).Inc()
		if !e.NotSent {
			m.upstreamLatency.WithLabelValues(provider).Observe(e.Latency.Seconds())
		}
	case observe.GovernorWaited:
		provider := name(e.Provider)
		m.governorWait.WithLabelValues(provider).Observe(e.Wait.Seconds())
		m.governorOutcomes.WithLabelValues(provider, oneOf(e.Outcome, governorOutcomes)).Inc()
	case observe.BreakerChanged:
		provider, to := name(e.Provider), oneOf(e.To, breakerStates)
		m.breakerTransitions.WithLabelValues(provider, oneOf(e.From, breakerStates), to).Inc()
		m.breaker.set(provider, to)
	case observe.Finished:
		m.finished(e)
	case observe.Admitted:
		m.clientRequests.WithLabelValues(name(e.Client), name(e.Environment)).Inc()
	case observe.Refused:
		m.refused.WithLabelValues(name(e.Client), oneOf(e.Kind, problemKinds)).Inc()
	case observe.Withheld:
		m.withheld.WithLabelValues(name(e.Provider), capLabel(e.Rule, maxRuleLen)).Inc()
	case observe.KeyChecked:
		m.keyChecks.WithLabelValues(name(e.Provider), oneOf(e.Reason, checkReasons), oneOf(e.Verdict, checkVerdicts)).Inc()
	case observe.KeyRevoked:
		renewed := "false"
		if e.Renewed {
			renewed = "true"
		}
		m.keyRevocations.WithLabelValues(name(e.Provider), name(e.KeyID), renewed).Inc()
	case observe.KeyRestored:
		m.keyRestorations.WithLabelValues(name(e.Provider), name(e.KeyID)).Inc()
	case observe.KeysSwapped:
		m.keySwaps.WithLabelValues(name(e.Provider)).Inc()
	default:
		m.cacheEvent(e)
		m.durableEvent(e)
		m.keyEvent(e)
	}
}

func (m *Metrics) finished(e observe.Finished) {
	provider, cache := name(e.Provider), oneOf(e.Cache, cacheSources)
	status := oneOf(e.Status, lookupStatuses)
	m.lookups.WithLabelValues(provider, status, cache, oneOf(e.Operation, operations)).Inc()
	m.lookupLatency.WithLabelValues(provider, cache).Observe(e.Latency.Seconds())
	if status == "error" {
		m.lookupErrors.WithLabelValues(provider, oneOf(e.Kind, problemKinds)).Inc()
	}
	if e.Shared {
		m.coalesced.WithLabelValues(provider).Inc()
	}
}

// cacheEvent handles the cache's events; anything else is not ours to
// count and is ignored.
func (m *Metrics) cacheEvent(e observe.Event) {
	switch e := e.(type) {
	case observe.CacheRead:
		m.cacheReads.WithLabelValues(name(e.Provider), oneOf(e.Tier, cacheTiers), oneOf(e.Outcome, cacheReadOutcomes)).Inc()
	case observe.CacheWritten:
		provider, tier := name(e.Provider), oneOf(e.Tier, cacheTiers)
		if e.Err {
			m.cacheWrites.WithLabelValues(provider, tier, "error").Inc()
			return
		}
		m.cacheWrites.WithLabelValues(provider, tier, "ok").Inc()
		m.cacheWrittenBytes.WithLabelValues(provider, tier).Add(float64(max(e.Bytes, 0)))
	case observe.CacheEvicted:
		m.cacheEvictions.WithLabelValues(name(e.Provider), oneOf(e.Reason, evictionReasons)).Inc()
	case observe.CachePurged:
		reason := oneOf(e.Reason, purgeReasons)
		m.cachePurges.WithLabelValues(reason).Inc()
		m.cachePurgedEntries.WithLabelValues(reason).Add(float64(max(e.Count, 0)))
	}
}

// attemptOutcome is an upstream call's outcome label: not_sent wins over
// the error kind, since nothing reached the vendor.
func attemptOutcome(e observe.Attempted) string {
	switch {
	case e.NotSent:
		return "not_sent"
	case e.Kind == "":
		return "ok"
	}
	return oneOf(e.Kind, upstreamKinds)
}

// The enum label sets: each is every value its event field is documented
// to take. Anything else is a bug elsewhere and is counted as "other".
var (
	upstreamKinds = []string{
		string(upstream.KindTLS), string(upstream.KindConnect), string(upstream.KindTimeout),
		string(upstream.KindTooLarge), string(upstream.KindContentType), string(upstream.KindMalformed),
		string(upstream.KindSchema), string(upstream.KindAuth), string(upstream.KindNotFound),
		string(upstream.KindRateLimited), string(upstream.KindUpstream), string(upstream.KindRejected),
		string(upstream.KindCredentialLeak),
		"internal", // the pipeline's own failure, not an upstream.Error
	}
	governorOutcomes = []string{"acquired", "rate", "day_quota", "month_quota", "paused", "no_keys",
		"unavailable", "deadline", "canceled", "error"}
	breakerStates = []string{"closed", "half-open", "open"}
	// problemKinds are the problem slugs a caller can receive: the lookup
	// service's (lookup.Kinds, pinned by a test) and the gateway's own.
	problemKinds = []string{"invalid-parameter", "unknown-provider", "unsupported-type", "forbidden",
		"not-found", "rate-limited", "upstream-rate-limited", "upstream-tls", "upstream-unavailable",
		"upstream-invalid-response", "upstream-auth", "upstream-error", "upstream-timeout", "unavailable",
		"internal", "client-closed", "indicator-withheld", "refresh-not-allowed", "admin-required",
		"unauthenticated", "source-not-allowed",
		"method-not-allowed", "request-too-large", "too-many-auth-failures"}
	lookupStatuses    = []string{"ok", "not_found", "error", "withheld"}
	cacheSources      = []string{"hit", "miss", "stale", "bypass", "off"}
	operations        = []string{"lookup", "resolve"}
	checkReasons      = []string{"suspect", "recheck"}
	checkVerdicts     = []string{"passed", "refused", "inconclusive"}
	cacheTiers        = []string{"memory", "durable"}
	cacheReadOutcomes = []string{"hit", "stale", "miss", "error", "corrupt"}
	evictionReasons   = []string{"size", "expired"}
	purgeReasons      = []string{"admin", "key_revoked", "key_rotated", "webhook"}
	quotaPeriods      = []string{"day", "month"}
	httpMethods       = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
)

// other is the label value for an enum value outside its set.
const other = "other"

// oneOf returns s when it is in set, else "other". A linear scan of a
// dozen short strings is cheaper than a map lookup's hashing.
func oneOf(s string, set []string) string {
	if slices.Contains(set, s) {
		return s
	}
	return other
}

// Length caps for labels that pass through from configuration: generous
// for any real name, short enough that a mistaken indicator or body in a
// name field cannot make a huge series.
const (
	maxNameLen  = 64
	maxRuleLen  = 128
	maxRouteLen = 128
)

// name is a provider, key, client or environment name as a label.
func name(s string) string { return capLabel(s, maxNameLen) }

// capLabel cuts s to at most n bytes on a rune boundary. A value that is
// not UTF-8 (client_golang would panic on it) becomes "other": names come
// from validated config, so that is a bug, not a name to preserve.
func capLabel(s string, n int) string {
	if len(s) > n {
		i := n
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i]
	}
	if !utf8.ValidString(s) {
		return other
	}
	return s
}
