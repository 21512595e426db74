package redisstate_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/govern/redisstate"
	"github.com/intelgate/intelgate/internal/redistest"
)

// rawClient is a plain client on the test Redis, for looking behind the
// State's back.
func rawClient(t *testing.T) *redis.Client {
	t.Helper()
	o, err := redis.ParseURL(redistest.URL(t))
	require.NoError(t, err)
	c := redis.NewClient(o)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

// TestKeysExpire: every key the State writes has a TTL matching what it
// holds, so Redis never grows without bound. It also pins the key layout
// the README documents.
func TestKeysExpire(t *testing.T) {
	t.Parallel()
	p := redistest.Prefix(t)
	s, raw := open(t, p), rawClient(t)
	ctx := t.Context()
	hour := govern.Limit{Rate: 1, Period: time.Hour, Burst: 5}
	_, err := s.Allow(ctx, "r", hour)
	require.NoError(t, err)
	ok, _, err := s.Consume(ctx, []govern.Window{{Key: "q", Limit: 5, Expires: time.Now().Add(24 * time.Hour)}})
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, s.PauseUntil(ctx, "p", time.Now().Add(time.Minute)))

	tests := []struct {
		key      string
		min, max time.Duration
	}{
		{p + "rate:r", time.Hour - time.Minute, time.Hour},          // TAT − now = one interval
		{p + "quota:q", 25*time.Hour - time.Minute, 25 * time.Hour}, // window end + grace
		{p + "pause:p", time.Minute - 10*time.Second, time.Minute},  // the pause's end
	}
	for _, tc := range tests {
		ttl, err := raw.PTTL(ctx, tc.key).Result()
		require.NoError(t, err)
		require.GreaterOrEqual(t, ttl, tc.min, tc.key)
		require.LessOrEqual(t, ttl, tc.max, tc.key)
	}

	// The TAT is on Redis's clock (µs since 1970), not the caller's.
	tatStr, err := raw.Get(ctx, p+"rate:r").Result()
	require.NoError(t, err)
	tat, err := strconv.ParseInt(tatStr, 10, 64)
	require.NoError(t, err)
	now, err := raw.Time(ctx).Result()
	require.NoError(t, err)
	ahead := time.Duration(tat-now.UnixMicro()) * time.Microsecond
	require.Greater(t, ahead, time.Hour-time.Minute)
	require.LessOrEqual(t, ahead, time.Hour)

	// Peek writes nothing: an unknown key stays unknown.
	_, err = s.Peek(ctx, "never", hour)
	require.NoError(t, err)
	n, err := raw.Exists(ctx, p+"rate:never").Result()
	require.NoError(t, err)
	require.Zero(t, n)
}

// TestRateRefillsOnRedisTime is the real-clock counterpart of the suite's
// clock tests (which need Advance): a 50ms interval refills one unit no
// sooner than RetryAfter says, and only one.
func TestRateRefillsOnRedisTime(t *testing.T) {
	t.Parallel()
	s := open(t, redistest.Prefix(t))
	ctx := t.Context()
	l := govern.Limit{Rate: 20, Period: time.Second, Burst: 2}
	for range 2 {
		d, err := s.Allow(ctx, "k", l)
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}
	// Bracket the Redis clock readings with the local one (the same clock
	// on this host): before the denying Allow, after the allowing Peek.
	denied := time.Now()
	d, err := s.Allow(ctx, "k", l)
	require.NoError(t, err)
	require.False(t, d.Allowed)
	require.Positive(t, d.RetryAfter)
	require.LessOrEqual(t, d.RetryAfter, 50*time.Millisecond)
	require.LessOrEqual(t, d.ResetAfter, 100*time.Millisecond)
	require.Greater(t, d.ResetAfter, 50*time.Millisecond)

	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(5 * time.Second)
	for {
		p, err := s.Peek(ctx, "k", l)
		require.NoError(t, err)
		if p.Allowed {
			break
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("no unit refilled within 5s")
		}
	}
	require.GreaterOrEqual(t, time.Since(denied), d.RetryAfter)
	d2, err := s.Allow(ctx, "k", l)
	require.NoError(t, err)
	require.True(t, d2.Allowed)
	d3, err := s.Allow(ctx, "k", l)
	require.NoError(t, err)
	if d3.Allowed {
		// A second unit only once a second interval passed on Redis's
		// clock: the first refill came RetryAfter after the denial at the
		// earliest, the next one interval (50ms) later. A loaded machine
		// may well take that long between the two calls; sooner would be
		// more than one unit per interval.
		require.GreaterOrEqual(t, time.Since(denied), d.RetryAfter+l.Period/time.Duration(l.Rate),
			"one interval refills one unit, not more")
	}
}

// TestCorruptCounter: a quota key someone else overwrote is reported as
// unavailable (the governor applies its fail mode) and no window is taken.
func TestCorruptCounter(t *testing.T) {
	t.Parallel()
	p := redistest.Prefix(t)
	s, raw := open(t, p), rawClient(t)
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	good := govern.Window{Key: "good", Limit: 5, Expires: exp}
	bad := govern.Window{Key: "bad", Limit: 5, Expires: exp}
	require.NoError(t, raw.Set(ctx, p+"quota:bad", "not-a-number", time.Minute).Err())

	_, _, err := s.Consume(ctx, []govern.Window{good, bad})
	require.ErrorIs(t, err, govern.ErrUnavailable)
	_, err = s.Used(ctx, []govern.Window{good, bad})
	require.ErrorIs(t, err, govern.ErrUnavailable)
	used, err := s.Used(ctx, []govern.Window{good})
	require.NoError(t, err)
	require.Equal(t, []int64{0}, used, "all or nothing: good was not taken")
}

func TestConsumeNeedsExpires(t *testing.T) {
	t.Parallel()
	s := open(t, redistest.Prefix(t))
	_, _, err := s.Consume(t.Context(), []govern.Window{{Key: "forever", Limit: 1}})
	require.ErrorContains(t, err, "no Expires")
	require.NotErrorIs(t, err, govern.ErrUnavailable)
}

// TestNewLeavesClientToCaller: a State from New shares a client the app
// may use elsewhere, so its Close must not close it.
func TestNewLeavesClientToCaller(t *testing.T) {
	t.Parallel()
	raw := rawClient(t)
	s := redisstate.New(raw, redisstate.Options{Prefix: redistest.Prefix(t)})
	require.NoError(t, s.Ping(t.Context()))
	require.NoError(t, s.Close())
	require.NoError(t, raw.Ping(t.Context()).Err())
	require.NoError(t, s.Ping(t.Context()))
}

func TestOptionsDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want redisstate.Options
	}{
		{redisstate.Options{}, redisstate.Options{Prefix: "intelgate:", OpTimeout: 250 * time.Millisecond}},
		{redisstate.Options{OpTimeout: -1}, redisstate.Options{Prefix: "intelgate:", OpTimeout: 250 * time.Millisecond}},
		{redisstate.Options{Prefix: "x:", OpTimeout: time.Second}, redisstate.Options{Prefix: "x:", OpTimeout: time.Second}},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, tc.in.WithDefaults())
	}
}
