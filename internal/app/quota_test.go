package app

import (
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/gateway"
	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/redistest"
	"github.com/intelgate/intelgate/internal/sim"
)

// requireRetryUntilMidnightUTC checks a Retry-After that must point at the
// next UTC midnight. The server read its clock somewhere between before
// and after and rounded up to whole seconds, which bounds the header
// exactly: no slack beyond the request's own duration.
func requireRetryUntilMidnightUTC(t *testing.T, retryAfter int, before, after time.Time) {
	t.Helper()
	lo := int(math.Floor(untilMidnightUTC(after).Seconds()))
	hi := int(math.Ceil(untilMidnightUTC(before).Seconds()))
	require.GreaterOrEqual(t, retryAfter, lo, "Retry-After must last until midnight UTC")
	require.LessOrEqual(t, retryAfter, hi, "Retry-After must last until midnight UTC")
}

// govKeyStatus finds a provider key in a /v1/quota answer.
func govKeyStatus(t *testing.T, q gateway.QuotaResponse, provider, keyID string) govern.KeyStatus {
	t.Helper()
	for _, p := range q.Providers {
		if p.Provider != provider {
			continue
		}
		for _, k := range p.Keys {
			if k.ID == keyID {
				return k.KeyStatus
			}
		}
	}
	require.Failf(t, "key not reported", "provider %s key %s not in /v1/quota", provider, keyID)
	return govern.KeyStatus{}
}

// TestDailyQuotaSurvivesRestart spends all but one unit of a provider's
// daily quota, restarts the gateway on the same state, and expects exactly
// one more lookup before an honest 429 that lasts until midnight UTC:
// embedded (counters in the SQLite file) and distributed (in Redis).
func TestDailyQuotaSurvivesRestart(t *testing.T) {
	t.Parallel()
	const day = 3
	for _, tc := range []struct {
		name  string
		redis bool
	}{
		{"embedded sqlite", false},
		{"redis", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			skipNearMidnightUTC(t)
			dir := t.TempDir()
			top := ""
			if tc.redis {
				top = redisShared(t, redistest.URL(t), dir)
			}
			s := startGovSim(t, sim.Options{})
			token, hash := newGovToken(t)
			cfg := writeGovConfig(t, dir, s, hash, govCfg{provider: "    limits: {quotas: {day: 3}}\n", top: top})
			c := newGovClient(t, token)

			first := runGovApp(t, cfg)
			for i := range day - 1 {
				r := c.get(t, first.url, govResolvePath("restart", i))
				require.Equal(t, http.StatusOK, r.status, string(r.body))
			}
			first.stop()

			second := runGovApp(t, cfg)
			k := govKeyStatus(t, c.quota(t, second.url), "socialeye", "prod-1")
			require.NotNil(t, k.Day)
			require.Equal(t, int64(day), k.Day.Limit)
			require.Equal(t, int64(day-1), k.Day.Used, "the restart reset the daily quota")
			require.Equal(t, int64(1), k.Day.Remaining)

			r := c.get(t, second.url, govResolvePath("restart", day-1))
			require.Equal(t, http.StatusOK, r.status, string(r.body))
			before := time.Now()
			r = c.get(t, second.url, govResolvePath("restart", day))
			after := time.Now()
			ra := govRequireProblem(t, r, http.StatusTooManyRequests, "upstream-rate-limited")
			_, detail := problemType(t, r.body)
			require.Contains(t, detail, "daily quota")
			requireRetryUntilMidnightUTC(t, ra, before, after)
			require.Equal(t, day, s.Sim.Stats().Requests, "the refused lookup must not reach the upstream")
		})
	}
}

// TestClientLimitsAreTheClientsOwn checks per-client rate and daily quota:
// an over-limit client gets 429 rate-limited with Retry-After at once, no
// upstream call is made and no provider unit spent, another client is
// unaffected, and /v1/quota reports the caller's remaining allowance.
func TestClientLimitsAreTheClientsOwn(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		limits  string
		allowed int
		// check verifies the 429's Retry-After, given when it was asked.
		check func(t *testing.T, retryAfter int, before, after time.Time)
	}{
		{
			name:    "rate",
			limits:  "{rate: 1/h, burst: 2}",
			allowed: 2,
			check: func(t *testing.T, ra int, _, _ time.Time) {
				// GCRA: the third unit is one interval (1h) after the first,
				// less the moments the test took: rounded up, 3600 or 3599.
				require.GreaterOrEqual(t, ra, 3599)
				require.LessOrEqual(t, ra, 3600)
			},
		},
		{
			name:    "day quota",
			limits:  "{quotas: {day: 3}}",
			allowed: 3,
			check:   requireRetryUntilMidnightUTC,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			skipNearMidnightUTC(t)
			s := startGovSim(t, sim.Options{})
			token, hash := newGovToken(t)
			otherToken, otherHash := newGovToken(t)
			cfg := writeGovConfig(t, t.TempDir(), s, hash, govCfg{
				provider: "    limits: {rate: 100/s, quotas: {day: 1000}}\n",
				client:   "    limits: " + tc.limits + "\n",
				top: "  soar:\n    token_sha256: " + otherHash +
					"\n    providers: [socialeye]\n    source_cidrs: [127.0.0.0/8]\n",
			})
			gw := runGovApp(t, cfg)
			c, other := newGovClient(t, token), newGovClient(t, otherToken)

			for i := range tc.allowed {
				r := c.get(t, gw.url, govResolvePath("client", i))
				require.Equal(t, http.StatusOK, r.status, "lookup %d: %s", i, r.body)
			}
			q := c.quota(t, gw.url)
			require.Equal(t, "siem", q.Client.Name)
			if tc.name == "day quota" {
				require.NotNil(t, q.Client.Day, "/v1/quota must report the client's day quota")
				require.Equal(t, govern.Usage{Limit: 3, Used: 3, Remaining: 0, ResetsAt: nextMidnightUTC(time.Now())},
					*q.Client.Day)
			} else {
				require.NotNil(t, q.Client.Rate)
				require.Equal(t, 0, q.Client.Rate.Remaining)
			}

			before := time.Now()
			r := c.get(t, gw.url, govResolvePath("client", tc.allowed))
			after := time.Now()
			ra := govRequireProblem(t, r, http.StatusTooManyRequests, "rate-limited")
			tc.check(t, ra, before, after)

			// Nothing went upstream for the refused lookup, and the
			// provider's own quota only counts the lookups that did.
			require.Equal(t, tc.allowed, s.Sim.Stats().Requests)
			k := govKeyStatus(t, c.quota(t, gw.url), "socialeye", "prod-1")
			require.Equal(t, int64(tc.allowed), k.Day.Used)

			// Another client's allowance is its own.
			r = other.get(t, gw.url, govResolvePath("other", 0))
			require.Equal(t, http.StatusOK, r.status, string(r.body))
			require.Nil(t, other.quota(t, gw.url).Client.Day, "soar has no quota of its own")
		})
	}
}
