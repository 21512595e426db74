package govern_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/govern/memory"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/store/sqlite"
)

func newAutoClock(t time.Time) *clocktest.Clock { return clocktest.New(t) }

// t0 is far in the future so deadlines derived from the fake clock never
// expire in real time, which contexts also check.
var t0 = time.Date(2099, 11, 27, 10, 0, 0, 0, time.UTC)

func keys(ids ...string) []govern.Key {
	var ks []govern.Key
	for _, id := range ids {
		ks = append(ks, govern.Key{ID: id, Environment: "prod", Value: secret.NewValue("secret-" + id)})
	}
	return ks
}

func newGovernor(t *testing.T, clock *clocktest.Clock, st govern.State, p govern.Policy, clients ...govern.ClientPolicy) *govern.Governor {
	t.Helper()
	if p.Provider == "" {
		p.Provider = "se"
	}
	if st == nil {
		st = memory.New(memory.Options{Clock: clock})
	}
	g, err := govern.New(govern.Options{State: st, Clock: clock}, []govern.Policy{p}, clients)
	require.NoError(t, err)
	return g
}

func requireLimited(t *testing.T, err error, reason string, retryAfter time.Duration) {
	t.Helper()
	var le *govern.LimitedError
	require.True(t, errors.As(err, &le), "want *LimitedError, got %v", err)
	require.Equal(t, reason, le.Reason)
	require.Equal(t, retryAfter, le.RetryAfter)
}

func TestAcquireRateWithoutWaitingAnswersHonestRetryAfter(t *testing.T) {
	t.Parallel()
	clock := newAutoClock(t0)
	g := newGovernor(t, clock, nil, govern.Policy{Keys: keys("k1"), Rate: govern.Limit{Rate: 2, Period: time.Second, Burst: 2}})
	for range 2 {
		_, err := g.Acquire(context.Background(), "se", "prod")
		require.NoError(t, err)
	}
	_, err := g.Acquire(context.Background(), "se", "prod")
	requireLimited(t, err, "rate", 500*time.Millisecond)
	require.Equal(t, t0, clock.Now(), "no waiting with MaxWait 0")
}

func TestAcquireWaitsUpToMaxWaitAndTheCallerDeadline(t *testing.T) {
	t.Parallel()
	clock := newAutoClock(t0)
	g := newGovernor(t, clock, nil, govern.Policy{Keys: keys("k1"), MaxWait: 2 * time.Second,
		Rate: govern.Limit{Rate: 1, Period: time.Second, Burst: 1}})
	_, err := g.Acquire(context.Background(), "se", "prod")
	require.NoError(t, err)
	l, err := g.Acquire(context.Background(), "se", "prod")
	require.NoError(t, err)
	require.Equal(t, "k1", l.KeyID)
	require.Equal(t, t0.Add(time.Second), clock.Now(), "waited exactly one emission interval")

	// A caller whose deadline comes before the next unit is answered at once.
	ctx, cancel := context.WithDeadline(context.Background(), clock.Now().Add(300*time.Millisecond))
	defer cancel()
	_, err = g.Acquire(ctx, "se", "prod")
	requireLimited(t, err, "rate", time.Second)
}

func TestKeyPoolUsesNextKeyWithCapacity(t *testing.T) {
	t.Parallel()
	clock := newAutoClock(t0)
	g := newGovernor(t, clock, nil, govern.Policy{Keys: keys("primary", "backup"),
		Rate: govern.Limit{Rate: 1, Period: time.Hour, Burst: 1}})
	var got []string
	for range 2 {
		l, err := g.Acquire(context.Background(), "se", "prod")
		require.NoError(t, err)
		got = append(got, l.KeyID)
	}
	require.Equal(t, []string{"primary", "backup"}, got)
	_, err := g.Acquire(context.Background(), "se", "prod")
	requireLimited(t, err, "rate", time.Hour)

	_, err = g.Acquire(context.Background(), "se", "staging")
	require.ErrorIs(t, err, govern.ErrNoKeys, "a client never gets another environment's key")
}

func TestRevokedKeyFailsOverThenNoKeys(t *testing.T) {
	t.Parallel()
	clock := newAutoClock(t0)
	g := newGovernor(t, clock, nil, govern.Policy{Keys: keys("k1", "k2")})
	l, err := g.Acquire(context.Background(), "se", "prod")
	require.NoError(t, err)
	require.Equal(t, "k1", l.KeyID)
	require.NoError(t, g.Revoke(context.Background(), l.Provider, l.KeyID))

	l, err = g.Acquire(context.Background(), "se", "prod")
	require.NoError(t, err)
	require.Equal(t, "k2", l.KeyID, "a revoked key is out of rotation")
	require.NoError(t, g.Revoke(context.Background(), l.Provider, l.KeyID))

	_, err = g.Acquire(context.Background(), "se", "prod")
	require.ErrorIs(t, err, govern.ErrNoKeys)

	st, err := g.ProviderStatus(context.Background(), "se", "prod")
	require.NoError(t, err)
	require.True(t, st[0].Revoked)
	require.True(t, st[1].Revoked)
}

func TestPauseIsHonouredAndShared(t *testing.T) {
	t.Parallel()
	clock := newAutoClock(t0)
	st := memory.New(memory.Options{Clock: clock})
	p := govern.Policy{Keys: keys("k1"), MaxWait: 2 * time.Second}
	a := newGovernor(t, clock, st, p)
	b := newGovernor(t, clock, st, p) // a second replica on the same state

	l, err := a.Acquire(context.Background(), "se", "prod")
	require.NoError(t, err)
	require.NoError(t, a.Pause(context.Background(), l, 5*time.Second))

	_, err = b.Acquire(context.Background(), "se", "prod")
	requireLimited(t, err, "paused", 5*time.Second)

	clock.Advance(4 * time.Second)
	_, err = b.Acquire(context.Background(), "se", "prod")
	require.NoError(t, err, "the last second of the pause is within max_wait")
	require.Equal(t, t0.Add(5*time.Second), clock.Now())
	ks, err := b.ProviderStatus(context.Background(), "se", "prod")
	require.NoError(t, err)
	require.Nil(t, ks[0].PausedUntil, "expired pauses are not reported")
}

func TestCalendarQuotasAndRefund(t *testing.T) {
	t.Parallel()
	clock := newAutoClock(t0)
	g := newGovernor(t, clock, nil, govern.Policy{Keys: keys("k1"), Day: 2, Month: 3})
	ctx := context.Background()
	l, err := g.Acquire(ctx, "se", "prod")
	require.NoError(t, err)
	g.Refund(ctx, l) // never reached the upstream: the unit comes back
	for range 2 {
		_, err = g.Acquire(ctx, "se", "prod")
		require.NoError(t, err)
	}
	_, err = g.Acquire(ctx, "se", "prod")
	requireLimited(t, err, "day_quota", 14*time.Hour) // until midnight UTC

	clock.Advance(14 * time.Hour) // next day
	_, err = g.Acquire(ctx, "se", "prod")
	require.NoError(t, err)
	_, err = g.Acquire(ctx, "se", "prod")
	requireLimited(t, err, "month_quota", 3*24*time.Hour) // from 28 Nov 00:00 until 1 December

	ks, err := g.ProviderStatus(ctx, "se", "prod")
	require.NoError(t, err)
	require.Equal(t, int64(1), ks[0].Day.Used)
	require.Equal(t, int64(0), ks[0].Month.Remaining)
	require.Equal(t, time.Date(2099, 12, 1, 0, 0, 0, 0, time.UTC), ks[0].Month.ResetsAt)
}

func TestQuotaFollowsTheConfiguredTimeZone(t *testing.T) {
	t.Parallel()
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	clock := newAutoClock(t0) // 05:00 in New York
	g := newGovernor(t, clock, nil, govern.Policy{Keys: keys("k1"), Day: 1, Calendar: govern.Calendar{Loc: ny}})
	_, err = g.Acquire(context.Background(), "se", "prod")
	require.NoError(t, err)
	_, err = g.Acquire(context.Background(), "se", "prod")
	requireLimited(t, err, "day_quota", 19*time.Hour) // midnight in New York is 05:00 UTC
}

func TestDailyQuotaSurvivesRestart(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/state.db"
	ctx := context.Background()
	clock := newAutoClock(t0)
	p := govern.Policy{Keys: keys("k1"), Day: 3}
	for i, want := range []int{2, 1} { // two "process lifetimes" on one file
		db, err := sqlite.OpenWith(ctx, path, sqlite.Options{Clock: clock})
		require.NoError(t, err)
		g := newGovernor(t, clock, memory.New(memory.Options{Clock: clock, Quotas: db}), p)
		for range want {
			_, err := g.Acquire(ctx, "se", "prod")
			require.NoError(t, err, "lifetime %d", i)
		}
		if i == 1 {
			_, err := g.Acquire(ctx, "se", "prod")
			requireLimited(t, err, "day_quota", 14*time.Hour)
		}
		require.NoError(t, db.Close())
	}
}

func TestClientLimits(t *testing.T) {
	t.Parallel()
	clock := newAutoClock(t0)
	g := newGovernor(t, clock, nil, govern.Policy{Keys: keys("k1")},
		govern.ClientPolicy{Client: "siem", Rate: govern.Limit{Rate: 1, Period: time.Second, Burst: 1}, Day: 2})
	ctx := context.Background()
	require.NoError(t, g.AdmitClient(ctx, "siem"))
	err := g.AdmitClient(ctx, "siem")
	requireLimited(t, err, "rate", time.Second)
	require.Equal(t, t0, clock.Now(), "clients are never made to wait")

	clock.Advance(time.Second)
	require.NoError(t, g.AdmitClient(ctx, "siem"))
	clock.Advance(time.Second)
	err = g.AdmitClient(ctx, "siem")
	var le *govern.LimitedError
	require.True(t, errors.As(err, &le))
	require.Equal(t, "client", le.Scope)
	require.Equal(t, "day_quota", le.Reason)

	require.NoError(t, g.AdmitClient(ctx, "unlimited-client"))
	cs, err := g.ClientStatus(ctx, "siem")
	require.NoError(t, err)
	require.Equal(t, int64(0), cs.Day.Remaining)
	require.Equal(t, 1, cs.Rate.Burst)
}

// brokenState fails every operation like an unreachable Redis.
type brokenState struct{ govern.State }

var errDown = errors.Join(govern.ErrUnavailable, errors.New("dial tcp 127.0.0.1:6379: connection refused"))

func (brokenState) Allow(context.Context, string, govern.Limit) (govern.Decision, error) {
	return govern.Decision{}, errDown
}
func (brokenState) PausedUntil(context.Context, string) (time.Time, error) {
	return time.Time{}, errDown
}

func TestFailModes(t *testing.T) {
	t.Parallel()
	clock := newAutoClock(t0)
	p := govern.Policy{Provider: "se", Keys: keys("k1"), Rate: govern.Limit{Rate: 1, Period: time.Second, Burst: 1}}
	for _, open := range []bool{false, true} {
		g, err := govern.New(govern.Options{State: brokenState{}, Clock: clock, FailOpen: open}, []govern.Policy{p}, nil)
		require.NoError(t, err)
		l, err := g.Acquire(context.Background(), "se", "prod")
		if open {
			require.NoError(t, err)
			require.Equal(t, "k1", l.KeyID)
			g.Refund(context.Background(), l) // nothing was taken: a no-op, not a panic
		} else {
			require.ErrorIs(t, err, govern.ErrUnavailable)
		}
	}
}

// firstWaitClock runs onWait the first time a waiter sleeps (for a booked
// unit, say): whatever onWait does happens while the waiter is asleep.
type firstWaitClock struct {
	*clocktest.Clock
	once   sync.Once
	onWait func()
}

func (c *firstWaitClock) After(d time.Duration) <-chan time.Time {
	c.once.Do(c.onWait)
	return c.Clock.After(d)
}

func TestBookedWaiterHonoursAPauseThatBeganWhileItSlept(t *testing.T) {
	t.Parallel()
	base := newAutoClock(t0)
	st := memory.New(memory.Options{Clock: base})
	p := govern.Policy{Provider: "se", Keys: keys("k1"), Day: 100, MaxWait: 10 * time.Second,
		Rate: govern.Limit{Rate: 1, Period: time.Second, Burst: 1}}
	var g *govern.Governor
	clock := &firstWaitClock{Clock: base}
	g, err := govern.New(govern.Options{State: st, Clock: clock}, []govern.Policy{p}, nil)
	require.NoError(t, err)
	first, err := g.Acquire(context.Background(), "se", "prod")
	require.NoError(t, err)
	clock.onWait = func() { require.NoError(t, g.Pause(context.Background(), first, 5*time.Second)) }

	// This waiter books the next unit (due in 1s) and sleeps; meanwhile the
	// upstream says 429 and the key is paused for 5s.
	_, err = g.Acquire(context.Background(), "se", "prod")
	require.NoError(t, err)
	require.False(t, base.Now().Before(t0.Add(5*time.Second)), "the lease came only after the pause ended, at %s", base.Now())
	ks, err := g.ProviderStatus(context.Background(), "se", "prod")
	require.NoError(t, err)
	require.Equal(t, int64(2), ks[0].Day.Used, "the unit booked before the pause was refunded")
}
