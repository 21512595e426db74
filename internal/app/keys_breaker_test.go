package app

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/observe"
	"github.com/intelgate/intelgate/internal/observe/observetest"
	"github.com/intelgate/intelgate/internal/sim"
)

// TestRevokedKeyFailsOverToTheNext configures two keys of one environment,
// the first of which the simulator refuses. The refusal makes the key
// suspect; the auth check (socialeye's default, a fixed neutral query) is
// refused too, which revokes it, and the lookup succeeds on the second key
// within the same request. The revocation is logged as a security event
// naming the first key (by id, never by value), /v1/quota shows it
// revoked, and later lookups do not try it again.
func TestRevokedKeyFailsOverToTheNext(t *testing.T) {
	t.Parallel()
	const wrongKey = "se-live-REVOKED-7f00aa"
	s := startGovSim(t, sim.Options{})
	token, hash := newGovToken(t)
	cfg := writeGovConfig(t, t.TempDir(), s, hash, govCfg{
		keys: []govKey{{"prod-1", wrongKey}, {"prod-2", simKey}},
	})
	rec := &observetest.Recorder{}
	gw := runGovAppWith(t, cfg, Options{Observer: rec})
	c := newGovClient(t, token)

	r := c.get(t, gw.url, govResolvePath("failover", 0))
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	fin := observetest.Of[observe.Finished](rec)
	require.Len(t, fin, 1)
	require.Equal(t, "prod-2", fin[0].KeyID, "the outcome names the key that answered")
	require.Equal(t, 2, fin[0].Attempts)
	require.Equal(t, http.StatusOK, fin[0].UpstreamStatus)
	st := s.Sim.Stats()
	require.Equal(t, map[int]int{http.StatusUnauthorized: 2, http.StatusOK: 1}, st.ByStatus,
		"prod-1 refused on the lookup and on the auth check, then the answer via prod-2")
	require.Equal(t, 1, st.ByQuery["example.com"], "the auth check is the fixed query, not the client's")

	logs := gw.logs.String()
	require.Len(t, govLogRecords(t, logs, "event", "upstream_key_suspect"), 1, logs)
	events := govLogRecords(t, logs, "event", "upstream_key_revoked")
	require.Len(t, events, 1, logs)
	require.Equal(t, "prod-1", events[0]["key_id"])
	require.Equal(t, "socialeye", events[0]["provider"])
	require.Equal(t, "ERROR", events[0]["level"])
	require.NotContains(t, logs, wrongKey)
	require.NotContains(t, logs, simKey)

	q := c.quota(t, gw.url)
	require.True(t, govKeyStatus(t, q, "socialeye", "prod-1").Revoked, "prod-1 must be out of rotation")
	require.False(t, govKeyStatus(t, q, "socialeye", "prod-2").Revoked)

	r = c.get(t, gw.url, govResolvePath("failover", 1))
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Equal(t, 2, s.Sim.Stats().ByStatus[http.StatusUnauthorized], "a revoked key must not be tried again")
	require.Len(t, govLogRecords(t, gw.logs.String(), "event", "upstream_key_revoked"), 1)
}

// TestBreakerOpensFailsFastAndRecovers drives a small breaker through its
// cycle against a failing simulator: four failures open it; while open,
// lookups are answered 503 unavailable with Retry-After without reaching
// the upstream; after open_for one probe reaches the healed upstream, and
// its success closes the breaker.
func TestBreakerOpensFailsFastAndRecovers(t *testing.T) {
	t.Parallel()
	const minRequests = 4
	const openFor = time.Second
	s := startGovSim(t, sim.Options{Faults: sim.Faults{ErrorRate: 1}})
	token, hash := newGovToken(t)
	cfg := writeGovConfig(t, t.TempDir(), s, hash, govCfg{
		provider: "    retry: {max_attempts: 1}\n" +
			"    breaker: {failure_ratio: 0.5, min_requests: 4, window: 5s, open_for: 1s}\n",
	})
	rec := &observetest.Recorder{}
	gw := runGovAppWith(t, cfg, Options{Observer: rec})
	c := newGovClient(t, token)

	// Sequential failures: the breaker trips on the fourth, so the fifth
	// lookup is the first refused, and no more than four reached upstream.
	var opened time.Time // no later than the breaker's own opening
	for i := range minRequests {
		opened = time.Now()
		govRequireProblem(t, c.get(t, gw.url, govResolvePath("breaker", i)), http.StatusBadGateway, "upstream-error")
	}
	for i := range 3 {
		r := c.get(t, gw.url, govResolvePath("breaker", minRequests+i))
		ra := govRequireProblem(t, r, http.StatusServiceUnavailable, "unavailable")
		require.Equal(t, 1, ra, "Retry-After is the rest of open_for, rounded up")
	}
	failed := s.Sim.Stats().Requests
	if time.Since(opened) < openFor {
		// Exact only while the breaker cannot have half-opened yet (on a
		// stalled machine a failing probe may have gone through).
		require.Equal(t, minRequests, failed, "an open breaker must not call upstream")
		require.Equal(t, "open", c.quota(t, gw.url).Providers[0].Breaker)
	}

	// Heal the upstream and poll: answers stay 503 until open_for has
	// passed, then the probe succeeds.
	s.Sim.SetFaults(sim.Faults{})
	var healed time.Time
	ok := govPoll(5*time.Second, 50*time.Millisecond, func() bool {
		r, err := c.do(gw.url, govResolvePath("probe", 0))
		if err != nil || r.status != http.StatusOK {
			return false
		}
		healed = time.Now()
		return true
	})
	require.True(t, ok, "the breaker never let a probe through")
	require.GreaterOrEqual(t, healed.Sub(opened), openFor, "the breaker half-opened before open_for")
	require.Equal(t, failed+1, s.Sim.Stats().Requests, "only the probe reached the healed upstream")
	require.Equal(t, "closed", c.quota(t, gw.url).Providers[0].Breaker)

	var transitions []string
	for _, rec := range govLogRecords(t, gw.logs.String(), "msg", "circuit breaker state changed") {
		transitions = append(transitions, rec["from"].(string)+"→"+rec["to"].(string))
	}
	require.GreaterOrEqual(t, len(transitions), 3, transitions)
	require.Equal(t, "closed→open", transitions[0])
	require.Equal(t, []string{"open→half-open", "half-open→closed"}, transitions[len(transitions)-2:])
	require.False(t, strings.Contains(gw.logs.String(), simKey))

	var observed []string
	for _, e := range observetest.Of[observe.BreakerChanged](rec) {
		require.Equal(t, "socialeye", e.Provider)
		observed = append(observed, e.From+"→"+e.To)
	}
	require.Equal(t, transitions, observed, "the observer hears every breaker change the log reports")
}
