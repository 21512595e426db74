package monitor_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/lookup"
	"github.com/intelgate/intelgate/internal/monitor"
	"github.com/intelgate/intelgate/internal/observe"
	"github.com/intelgate/intelgate/internal/observe/observetest"
	"github.com/intelgate/intelgate/internal/upstream"
)

// Durations are binary fractions of a second, so sums compare exactly.
//
// lookupSequence is what the request path reports for a realistic burst:
// a lookup at two providers with a retry, a caller sharing that call, a
// quota rejection, a withheld indicator, a refused request, a key revoked
// and restored, cache traffic and purges.
func lookupSequence() []observe.Event {
	return []observe.Event{
		observe.Admitted{Client: "soar", Environment: "prod", RequestID: "r1", Operation: "lookup", Providers: []string{"socialeye", "vt"}},
		observe.CacheRead{Provider: "socialeye", Tier: "memory", Outcome: "miss"},
		observe.CacheRead{Provider: "socialeye", Tier: "durable", Outcome: "miss"},
		observe.GovernorWaited{Provider: "socialeye", KeyID: "se-a", Wait: 15625 * time.Microsecond, Outcome: "acquired"},
		observe.Attempted{Provider: "socialeye", KeyID: "se-a", Attempt: 1, UpstreamStatus: 503, Kind: "upstream", Latency: 125 * time.Millisecond},
		observe.GovernorWaited{Provider: "socialeye", KeyID: "se-b", Outcome: "acquired"},
		observe.Attempted{Provider: "socialeye", KeyID: "se-b", Attempt: 2, UpstreamStatus: 200, Latency: 62500 * time.Microsecond},
		observe.CacheWritten{Provider: "socialeye", Tier: "durable", Bytes: 512},
		observe.CacheWritten{Provider: "socialeye", Tier: "memory", Bytes: 512},
		observe.Finished{Client: "soar", Environment: "prod", RequestID: "r1", Operation: "lookup", Provider: "socialeye",
			KeyID: "se-b", Status: "ok", Attempts: 2, UpstreamStatus: 200, Latency: 250 * time.Millisecond, Units: 2, Cache: "miss"},
		// siem asked for the same indicator meanwhile and shared the call.
		observe.Admitted{Client: "siem", Environment: "prod", RequestID: "r2", Operation: "resolve", Providers: []string{"socialeye"}},
		observe.Finished{Client: "siem", Environment: "prod", RequestID: "r2", Operation: "resolve", Provider: "socialeye",
			KeyID: "se-b", Status: "ok", Shared: true, UpstreamStatus: 200, Latency: 125 * time.Millisecond, Cache: "miss"},
		// vt is out of day quota; a second key fails before sending.
		observe.GovernorWaited{Provider: "vt", Wait: 0, Outcome: "day_quota"},
		observe.GovernorWaited{Provider: "vt", KeyID: "vt-2", Outcome: "acquired"},
		observe.Attempted{Provider: "vt", KeyID: "vt-2", Attempt: 1, Kind: "connect", NotSent: true, Latency: time.Millisecond},
		observe.Finished{Client: "soar", Environment: "prod", RequestID: "r1", Operation: "lookup", Provider: "vt",
			Status: "error", Kind: "upstream-rate-limited", Latency: 7812500 * time.Nanosecond, Cache: "off"},
		observe.Withheld{Client: "soar", Environment: "prod", RequestID: "r3", Operation: "lookup", Provider: "vt", Rule: "never_send.cidrs[private]"},
		observe.Refused{Client: "soar", Environment: "prod", RequestID: "r4", Operation: "lookup", Kind: "rate-limited"},
		observe.BreakerChanged{Provider: "vt", From: "closed", To: "open"},
		observe.KeyChecked{Provider: "vt", KeyID: "vt-1", Reason: "suspect", Verdict: "refused", UpstreamStatus: 401, Sent: true},
		observe.KeyRevoked{Provider: "vt", KeyID: "vt-1"},
		observe.KeyRevoked{Provider: "vt", KeyID: "vt-1", Renewed: true},
		observe.KeyChecked{Provider: "vt", KeyID: "vt-1", Reason: "recheck", Verdict: "passed", UpstreamStatus: 200, Sent: true},
		observe.KeyRestored{Provider: "vt", KeyID: "vt-1"},
		observe.KeysSwapped{Provider: "vt", KeyIDs: []string{"vt-1", "vt-3"}},
		observe.CacheEvicted{Provider: "socialeye", Reason: "size"},
		observe.CachePurged{Provider: "vt", Count: 7, By: "gateway", Reason: "key_revoked"},
		observe.CachePurged{Count: 3, By: "ops", Reason: "admin"},
		observe.CacheWritten{Provider: "vt", Tier: "durable", Bytes: 99, Err: true},
	}
}

// observeAll plays events through observe.Join as the request path would,
// beside a recorder that proves each was delivered.
func observeAll(t *testing.T, m *monitor.Metrics, events []observe.Event) {
	t.Helper()
	rec := &observetest.Recorder{}
	obs := observe.Join(rec, m)
	for _, e := range events {
		obs.Observe(context.Background(), e)
	}
	require.Len(t, rec.Events(), len(events))
}

func TestObserveLookupSequence(t *testing.T) {
	t.Parallel()
	m := monitor.New(monitor.Options{Providers: []string{"socialeye", "vt"}})
	observeAll(t, m, lookupSequence())

	got := samples(t, m.Registry())
	for k := range durableZeros() {
		require.Zero(t, got[k], k)
		delete(got, k)
	}
	require.Equal(t, map[string]float64{
		`intelgate_upstream_requests_total{key_id="se-a",outcome="upstream",provider="socialeye"}`: 1,
		`intelgate_upstream_requests_total{key_id="se-b",outcome="ok",provider="socialeye"}`:       1,
		`intelgate_upstream_requests_total{key_id="vt-2",outcome="not_sent",provider="vt"}`:        1,
		// the call that was never sent has no latency
		`intelgate_upstream_request_duration_seconds_count{provider="socialeye"}`: 2,
		`intelgate_upstream_request_duration_seconds_sum{provider="socialeye"}`:   0.1875,

		`intelgate_governor_wait_seconds_count{provider="socialeye"}`:                    2,
		`intelgate_governor_wait_seconds_sum{provider="socialeye"}`:                      0.015625,
		`intelgate_governor_wait_seconds_count{provider="vt"}`:                           2,
		`intelgate_governor_wait_seconds_sum{provider="vt"}`:                             0,
		`intelgate_governor_acquisitions_total{outcome="acquired",provider="socialeye"}`: 2,
		`intelgate_governor_acquisitions_total{outcome="acquired",provider="vt"}`:        1,
		`intelgate_governor_acquisitions_total{outcome="day_quota",provider="vt"}`:       1,

		`intelgate_breaker_state{provider="socialeye",state="closed"}`:               1,
		`intelgate_breaker_state{provider="socialeye",state="half-open"}`:            0,
		`intelgate_breaker_state{provider="socialeye",state="open"}`:                 0,
		`intelgate_breaker_state{provider="vt",state="closed"}`:                      0,
		`intelgate_breaker_state{provider="vt",state="half-open"}`:                   0,
		`intelgate_breaker_state{provider="vt",state="open"}`:                        1,
		`intelgate_breaker_transitions_total{from="closed",provider="vt",to="open"}`: 1,

		`intelgate_lookups_total{cache="miss",operation="lookup",provider="socialeye",status="ok"}`:  1,
		`intelgate_lookups_total{cache="miss",operation="resolve",provider="socialeye",status="ok"}`: 1,
		`intelgate_lookups_total{cache="off",operation="lookup",provider="vt",status="error"}`:       1,
		`intelgate_lookup_errors_total{kind="upstream-rate-limited",provider="vt"}`:                  1,
		`intelgate_lookup_duration_seconds_count{cache="miss",provider="socialeye"}`:                 2,
		`intelgate_lookup_duration_seconds_sum{cache="miss",provider="socialeye"}`:                   0.375,
		`intelgate_lookup_duration_seconds_count{cache="off",provider="vt"}`:                         1,
		`intelgate_lookup_duration_seconds_sum{cache="off",provider="vt"}`:                           0.0078125,
		`intelgate_lookups_coalesced_total{provider="socialeye"}`:                                    1,
		`intelgate_lookups_withheld_total{provider="vt",rule="never_send.cidrs[private]"}`:           1,

		`intelgate_requests_refused_total{client="soar",kind="rate-limited"}`:          1,
		`intelgate_client_requests_total{client="soar",environment="prod"}`:            1,
		`intelgate_client_requests_total{client="siem",environment="prod"}`:            1,
		`intelgate_key_checks_total{provider="vt",reason="suspect",verdict="refused"}`: 1,
		`intelgate_key_checks_total{provider="vt",reason="recheck",verdict="passed"}`:  1,
		`intelgate_key_revocations_total{key_id="vt-1",provider="vt",renewed="false"}`: 1,
		`intelgate_key_revocations_total{key_id="vt-1",provider="vt",renewed="true"}`:  1,
		`intelgate_key_restorations_total{key_id="vt-1",provider="vt"}`:                1,
		`intelgate_key_pool_swaps_total{provider="vt"}`:                                1,

		`intelgate_cache_reads_total{outcome="miss",provider="socialeye",tier="memory"}`:  1,
		`intelgate_cache_reads_total{outcome="miss",provider="socialeye",tier="durable"}`: 1,
		`intelgate_cache_writes_total{provider="socialeye",result="ok",tier="durable"}`:   1,
		`intelgate_cache_writes_total{provider="socialeye",result="ok",tier="memory"}`:    1,
		`intelgate_cache_writes_total{provider="vt",result="error",tier="durable"}`:       1,
		`intelgate_cache_written_bytes_total{provider="socialeye",tier="durable"}`:        512,
		`intelgate_cache_written_bytes_total{provider="socialeye",tier="memory"}`:         512,
		`intelgate_cache_evictions_total{provider="socialeye",reason="size"}`:             1,
		`intelgate_cache_purges_total{reason="key_revoked"}`:                              1,
		`intelgate_cache_purges_total{reason="admin"}`:                                    1,
		`intelgate_cache_purged_entries_total{reason="key_revoked"}`:                      7,
		`intelgate_cache_purged_entries_total{reason="admin"}`:                            3,
	}, got)
}

// TestBreakerStateFollowsTransitions checks the enum pattern through
// GatherAndCompare, text format and all: exactly one state is 1.
func TestBreakerStateFollowsTransitions(t *testing.T) {
	t.Parallel()
	m := monitor.New(monitor.Options{Providers: []string{"vt"}})
	for _, step := range [][2]string{{"closed", "open"}, {"open", "half-open"}, {"half-open", "open"}, {"open", "half-open"}, {"half-open", "closed"}} {
		m.Observe(context.Background(), observe.BreakerChanged{Provider: "vt", From: step[0], To: step[1]})
	}
	m.Observe(context.Background(), observe.BreakerChanged{Provider: "late", From: "closed", To: "open"})

	const want = `
# HELP intelgate_breaker_state Circuit breaker state of a provider on this replica: 1 for the current state (closed, half-open, open), 0 for the others.
# TYPE intelgate_breaker_state gauge
intelgate_breaker_state{provider="late",state="closed"} 0
intelgate_breaker_state{provider="late",state="half-open"} 0
intelgate_breaker_state{provider="late",state="open"} 1
intelgate_breaker_state{provider="vt",state="closed"} 1
intelgate_breaker_state{provider="vt",state="half-open"} 0
intelgate_breaker_state{provider="vt",state="open"} 0
# HELP intelgate_breaker_transitions_total Circuit breaker state changes, by provider and states.
# TYPE intelgate_breaker_transitions_total counter
intelgate_breaker_transitions_total{from="closed",provider="late",to="open"} 1
intelgate_breaker_transitions_total{from="closed",provider="vt",to="open"} 1
intelgate_breaker_transitions_total{from="half-open",provider="vt",to="closed"} 1
intelgate_breaker_transitions_total{from="half-open",provider="vt",to="open"} 1
intelgate_breaker_transitions_total{from="open",provider="vt",to="half-open"} 2
`
	require.NoError(t, testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"intelgate_breaker_state", "intelgate_breaker_transitions_total"))
}

// TestUnknownValuesBecomeOther: an enum field holding anything outside its
// documented set — here an indicator, as a bug elsewhere might put there —
// is counted as "other", never exported as it is.
func TestUnknownValuesBecomeOther(t *testing.T) {
	t.Parallel()
	const leak = "203.0.113.7"
	for _, tc := range []struct {
		name  string
		event observe.Event
		want  string
	}{
		{"attempt kind", observe.Attempted{Provider: "p", KeyID: "k", Kind: leak},
			`intelgate_upstream_requests_total{key_id="k",outcome="other",provider="p"}`},
		{"governor outcome", observe.GovernorWaited{Provider: "p", Outcome: leak},
			`intelgate_governor_acquisitions_total{outcome="other",provider="p"}`},
		{"breaker state", observe.BreakerChanged{Provider: "p", From: leak, To: "open"},
			`intelgate_breaker_transitions_total{from="other",provider="p",to="open"}`},
		{"breaker current state", observe.BreakerChanged{Provider: "p", From: "open", To: leak},
			`intelgate_breaker_state{provider="p",state="other"}`},
		{"lookup status", observe.Finished{Provider: "p", Status: leak, Cache: "hit", Operation: "lookup"},
			`intelgate_lookups_total{cache="hit",operation="lookup",provider="p",status="other"}`},
		{"lookup cache", observe.Finished{Provider: "p", Status: "ok", Cache: leak, Operation: "lookup"},
			`intelgate_lookups_total{cache="other",operation="lookup",provider="p",status="ok"}`},
		{"lookup operation", observe.Finished{Provider: "p", Status: "ok", Cache: "hit", Operation: leak},
			`intelgate_lookups_total{cache="hit",operation="other",provider="p",status="ok"}`},
		{"lookup error kind", observe.Finished{Provider: "p", Status: "error", Kind: leak, Cache: "off", Operation: "lookup"},
			`intelgate_lookup_errors_total{kind="other",provider="p"}`},
		{"refused kind", observe.Refused{Client: "c", Kind: leak},
			`intelgate_requests_refused_total{client="c",kind="other"}`},
		{"check reason", observe.KeyChecked{Provider: "p", Reason: leak, Verdict: "passed"},
			`intelgate_key_checks_total{provider="p",reason="other",verdict="passed"}`},
		{"check verdict", observe.KeyChecked{Provider: "p", Reason: "suspect", Verdict: leak},
			`intelgate_key_checks_total{provider="p",reason="suspect",verdict="other"}`},
		{"cache tier", observe.CacheRead{Provider: "p", Tier: leak, Outcome: "hit"},
			`intelgate_cache_reads_total{outcome="hit",provider="p",tier="other"}`},
		{"cache read outcome", observe.CacheRead{Provider: "p", Tier: "memory", Outcome: leak},
			`intelgate_cache_reads_total{outcome="other",provider="p",tier="memory"}`},
		{"cache write tier", observe.CacheWritten{Provider: "p", Tier: leak},
			`intelgate_cache_writes_total{provider="p",result="ok",tier="other"}`},
		{"eviction reason", observe.CacheEvicted{Provider: "p", Reason: leak},
			`intelgate_cache_evictions_total{provider="p",reason="other"}`},
		{"purge reason", observe.CachePurged{Reason: leak, Count: 1},
			`intelgate_cache_purges_total{reason="other"}`},
		{"name not UTF-8", observe.Admitted{Client: "c\xff", Environment: "prod"},
			`intelgate_client_requests_total{client="other",environment="prod"}`},
		{"long name capped at 64 bytes", observe.KeysSwapped{Provider: strings.Repeat("p", 200)},
			`intelgate_key_pool_swaps_total{provider="` + strings.Repeat("p", 64) + `"}`},
		{"cap keeps whole runes", observe.KeysSwapped{Provider: strings.Repeat("p", 63) + "é"},
			`intelgate_key_pool_swaps_total{provider="` + strings.Repeat("p", 63) + `"}`},
		{"long rule capped at 128 bytes", observe.Withheld{Provider: "p", Rule: strings.Repeat("r", 300)},
			`intelgate_lookups_withheld_total{provider="p",rule="` + strings.Repeat("r", 128) + `"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := monitor.New(monitor.Options{})
			m.Observe(context.Background(), tc.event)
			got := samples(t, m.Registry())
			require.Equal(t, 1.0, got[tc.want], "series %s in %v", tc.want, got)
			for k := range got {
				require.NotContains(t, k, leak)
			}
		})
	}
}

// TestKnownKindsPassThrough pins the enum sets to their sources: every
// problem kind the lookup service defines and every upstream error kind is
// exported as itself, not as "other".
func TestKnownKindsPassThrough(t *testing.T) {
	t.Parallel()
	m := monitor.New(monitor.Options{})
	kinds := lookup.Kinds()
	for _, k := range kinds {
		m.Observe(context.Background(), observe.Refused{Client: "c", Kind: string(k)})
	}
	upstreamKinds := []upstream.Kind{upstream.KindTLS, upstream.KindConnect, upstream.KindTimeout, upstream.KindTooLarge,
		upstream.KindContentType, upstream.KindMalformed, upstream.KindSchema, upstream.KindAuth, upstream.KindNotFound,
		upstream.KindRateLimited, upstream.KindUpstream, upstream.KindRejected, upstream.KindCredentialLeak}
	for _, k := range upstreamKinds {
		m.Observe(context.Background(), observe.Attempted{Provider: "p", KeyID: "k", Kind: string(k)})
	}
	got := samples(t, m.Registry(), "intelgate_requests_refused_total", "intelgate_upstream_requests_total")
	for _, k := range kinds {
		require.Equal(t, 1.0, got[`intelgate_requests_refused_total{client="c",kind="`+string(k)+`"}`], k)
	}
	for _, k := range upstreamKinds {
		require.Equal(t, 1.0, got[`intelgate_upstream_requests_total{key_id="k",outcome="`+string(k)+`",provider="p"}`], k)
	}
	require.Len(t, got, len(kinds)+len(upstreamKinds))
}

func TestObserveIgnoresForeignEvents(t *testing.T) {
	t.Parallel()
	m := monitor.New(monitor.Options{})
	m.Observe(context.Background(), foreign{})
	m.Observe(context.Background(), nil)
	require.Equal(t, durableZeros(), samples(t, m.Registry()))
}

type foreign struct{}

func (foreign) Step() string { return "foreign" }

// TestObserveConcurrently runs Observe from many goroutines while scraping,
// for the race detector, and checks nothing was lost.
func TestObserveConcurrently(t *testing.T) {
	t.Parallel()
	m := monitor.New(monitor.Options{Providers: []string{"p"}})
	const workers, each = 8, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				m.Observe(context.Background(), observe.Attempted{Provider: "p", KeyID: "k", Latency: time.Millisecond})
				if i%50 == 0 {
					to := [...]string{"open", "closed"}[w%2]
					m.Observe(context.Background(), observe.BreakerChanged{Provider: "p", From: "closed", To: to})
				}
			}
		})
	}
	for range 5 {
		code, _ := scrape(t, m.Handler())
		require.Equal(t, 200, code)
	}
	wg.Wait()
	got := samples(t, m.Registry(), "intelgate_upstream_requests_total", "intelgate_breaker_state")
	require.Equal(t, float64(workers*each), got[`intelgate_upstream_requests_total{key_id="k",outcome="ok",provider="p"}`])
	ones := got[`intelgate_breaker_state{provider="p",state="open"}`] + got[`intelgate_breaker_state{provider="p",state="closed"}`]
	require.Equal(t, 1.0, ones, "exactly one current state")
}

// TestObserveAllocations keeps Observe cheap on the request path: once a
// series exists, counting into it does not allocate.
func TestObserveAllocations(t *testing.T) {
	m := monitor.New(monitor.Options{})
	ctx := context.Background()
	for _, e := range []observe.Event{
		observe.Attempted{Provider: "p", KeyID: "k", Kind: "timeout", Latency: time.Second},
		observe.Finished{Provider: "p", Status: "error", Kind: "upstream-timeout", Cache: "miss", Operation: "lookup", Shared: true},
		observe.GovernorWaited{Provider: "p", Outcome: "acquired"},
		observe.CacheRead{Provider: "p", Tier: "memory", Outcome: "hit"},
		observe.Refused{Client: "c", Kind: strings.Repeat("x", 100)},
	} {
		m.Observe(ctx, e) // create the series
		require.Zero(t, testing.AllocsPerRun(100, func() { m.Observe(ctx, e) }), e.Step())
	}
}

func BenchmarkObserveAttempted(b *testing.B) {
	m := monitor.New(monitor.Options{})
	ctx := context.Background()
	e := observe.Attempted{Provider: "p", KeyID: "k", Latency: 80 * time.Millisecond}
	b.ReportAllocs()
	for b.Loop() {
		m.Observe(ctx, e)
	}
}

func BenchmarkObserveFinished(b *testing.B) {
	m := monitor.New(monitor.Options{})
	ctx := context.Background()
	e := observe.Finished{Provider: "p", Status: "ok", Cache: "hit", Operation: "lookup", Latency: time.Millisecond}
	b.ReportAllocs()
	for b.Loop() {
		m.Observe(ctx, e)
	}
}
