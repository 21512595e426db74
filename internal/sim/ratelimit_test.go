package sim

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// step is one request in a rate-limit script: advance the clock, send, and
// check status and headers.
type step struct {
	advance    time.Duration
	key        string
	status     int
	remaining  string
	reset      string
	retryAfter string // "" means the header must be absent
}

func TestRateLimitHeadersAnd429(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		rate        float64
		burst       int
		wantLimit   string
		steps       []step
		wantLimited int
	}{
		{
			name: "rate 2 burst 3", rate: 2, burst: 3, wantLimit: "3", wantLimited: 2,
			steps: []step{
				{key: testKey, status: 200, remaining: "2", reset: "1"}, // 1 token short: 0.5s → 1
				{key: testKey, status: 200, remaining: "1", reset: "1"}, // 2 short: 1s
				{key: testKey, status: 200, remaining: "0", reset: "2"}, // 3 short: 1.5s → 2
				{key: testKey, status: 429, remaining: "0", reset: "2", retryAfter: "1"},
				{key: "other", status: 200, remaining: "2", reset: "1"}, // own bucket
				{advance: 499 * time.Millisecond, key: testKey, status: 429, remaining: "0", reset: "2", retryAfter: "1"},
				{advance: time.Millisecond, key: testKey, status: 200, remaining: "0", reset: "2"},
				{advance: 10 * time.Second, key: testKey, status: 200, remaining: "2", reset: "1"}, // refilled, capped at burst
			},
		},
		{
			name: "slow rate: Retry-After counts whole seconds", rate: 0.1, burst: 1, wantLimit: "1", wantLimited: 2,
			steps: []step{
				{key: testKey, status: 200, remaining: "0", reset: "10"},
				{key: testKey, status: 429, remaining: "0", reset: "10", retryAfter: "10"},
				{advance: 9500 * time.Millisecond, key: testKey, status: 429, remaining: "0", reset: "1", retryAfter: "1"},
				{advance: 500 * time.Millisecond, key: testKey, status: 200, remaining: "0", reset: "10"},
			},
		},
		{
			name: "burst defaults to rate", rate: 2, wantLimit: "2", wantLimited: 1,
			steps: []step{
				{key: testKey, status: 200, remaining: "1", reset: "1"},
				{key: testKey, status: 200, remaining: "0", reset: "1"},
				{key: testKey, status: 429, remaining: "0", reset: "1", retryAfter: "1"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			srv, c := start(t, New(Options{APIKeys: []string{testKey, "other"}, Rate: tt.rate, Burst: tt.burst, Now: clock.Now}))
			for i, st := range tt.steps {
				clock.Advance(st.advance)
				r := get(t, c, srv, "alice", st.key)
				require.Equal(t, st.status, r.status, "step %d: %s", i, r.body)
				require.Equal(t, tt.wantLimit, r.header.Get("X-RateLimit-Limit"), "step %d", i)
				require.Equal(t, st.remaining, r.header.Get("X-RateLimit-Remaining"), "step %d", i)
				require.Equal(t, st.reset, r.header.Get("X-RateLimit-Reset"), "step %d", i)
				require.Equal(t, st.retryAfter, r.header.Get("Retry-After"), "step %d", i)
				if st.status == 429 {
					requireAPIError(t, r, 429, "rate_limited")
				}
			}
			stats := srv.Sim.Stats()
			require.Equal(t, tt.wantLimited, stats.RateLimited)
			require.Equal(t, tt.wantLimited, stats.ByStatus[429])
		})
	}
}

func TestRateLimitUnlimitedSendsNoHeaders(t *testing.T) {
	t.Parallel()
	srv, c := start(t, New(Options{APIKeys: []string{testKey}}))
	r := get(t, c, srv, "alice", testKey)
	require.Equal(t, 200, r.status)
	require.Empty(t, r.header.Get("X-RateLimit-Limit"))
}

func TestRateLimitRejectsBeforeWrongKeyCounts(t *testing.T) {
	t.Parallel()
	// A wrong key is 401 and spends nobody's tokens.
	clock := newFakeClock()
	srv, c := start(t, New(Options{APIKeys: []string{testKey}, Rate: 1, Burst: 1, Now: clock.Now}))
	for range 3 {
		requireAPIError(t, get(t, c, srv, "alice", "wrong"), 401, "invalid_api_key")
	}
	require.Equal(t, 200, get(t, c, srv, "alice", testKey).status)
}

func TestPeakPerSecondCountsAcceptedOnly(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	srv, c := start(t, New(Options{APIKeys: []string{testKey}, Rate: 3, Burst: 3, Now: clock.Now}))
	for range 5 { // 3 accepted, 2 limited, all in one second
		get(t, c, srv, "alice", testKey)
	}
	clock.Advance(time.Second)
	for range 2 {
		get(t, c, srv, "alice", testKey)
	}
	st := srv.Sim.Stats()
	require.Equal(t, 7, st.Requests)
	require.Equal(t, 2, st.RateLimited)
	require.Equal(t, 3, st.PeakPerSecond)

	// The same through the HTTP endpoint, as benchmarks read it.
	r := do(t, c, "GET", srv.URL+"/_sim/stats", "", nil)
	require.Equal(t, 200, r.status)
	var wire Stats
	require.NoError(t, json.Unmarshal(r.body, &wire))
	require.Len(t, st.Arrivals, 7, "every request's arrival is recorded")
	st.Arrivals = nil // in-process only: not on the wire
	require.Equal(t, st, wire)
}

func TestResetStatsRefillsBuckets(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	srv, c := start(t, New(Options{APIKeys: []string{testKey}, Rate: 1, Burst: 1, Now: clock.Now}))
	require.Equal(t, 200, get(t, c, srv, "alice", testKey).status)
	require.Equal(t, 429, get(t, c, srv, "alice", testKey).status)

	require.Equal(t, 204, postJSON(t, c, srv.URL+"/_sim/reset", "").status)
	require.Equal(t, Stats{ByQuery: map[string]int{}, ByStatus: map[int]int{}}, srv.Sim.Stats())
	require.Equal(t, 200, get(t, c, srv, "alice", testKey).status)
	require.Equal(t, 405, do(t, c, "GET", srv.URL+"/_sim/reset", "", nil).status)
}

// The per-query counts hold at most MaxQueries distinct queries; later
// ones are counted together, so a long benchmark does not grow the
// simulator without end.
func TestStatsByQueryIsBounded(t *testing.T) {
	t.Parallel()
	var st stats
	st.reset()
	for i := range MaxQueries + 10 {
		st.begin(fmt.Sprintf("q-%d", i), time.Time{})()
	}
	st.begin("q-0", time.Time{})() // a tracked query is still counted
	s := st.snapshot()
	require.Len(t, s.ByQuery, MaxQueries)
	require.Equal(t, 2, s.ByQuery["q-0"])
	require.Equal(t, 10, s.UntrackedQueries)
	require.Equal(t, MaxQueries+11, s.Requests)
}
