package memory

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/govern/governtest"
)

func newClock() *clocktest.Clock {
	return clocktest.New(time.Date(2026, 11, 27, 10, 15, 30, 0, time.UTC))
}

func TestConformance(t *testing.T) {
	t.Parallel()
	clk := newClock()
	governtest.Run(t, governtest.Harness{
		New:     func(*testing.T) govern.State { return New(Options{Clock: clk}) },
		Advance: clk.Advance,
		Now:     clk.Now,
		// No NewShared: the in-process backend is one State per process,
		// and the suite's default pair (one State twice) is exactly that.
	})
}

func TestConformanceWallClock(t *testing.T) {
	t.Parallel()
	governtest.Run(t, governtest.Harness{
		New: func(*testing.T) govern.State { return New(Options{}) },
	})
}

func TestCounterConformance(t *testing.T) {
	t.Parallel()
	governtest.RunQuota(t, func(*testing.T) govern.QuotaCounter { return NewCounter(nil) })
}

func TestSweepDropsExpiredEntries(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := New(Options{Clock: clk})
	ctx := t.Context()
	l := govern.Limit{Rate: 1, Period: time.Second, Burst: 1}
	for i := range sweepEvery / 2 {
		k := fmt.Sprintf("k%d", i)
		_, err := s.Allow(ctx, k, l)
		require.NoError(t, err)
		require.NoError(t, s.PauseUntil(ctx, k, clk.Now().Add(time.Minute)))
	}
	require.Equal(t, sweepEvery, s.size())

	clk.Advance(time.Hour)
	for range sweepEvery {
		_, err := s.Peek(ctx, "trigger", l)
		require.NoError(t, err)
	}
	require.Zero(t, s.size(), "every TAT and pause is in the past")
}

func TestSweepKeepsLiveEntries(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := New(Options{Clock: clk})
	ctx := t.Context()
	slow := govern.Limit{Rate: 1, Period: time.Hour, Burst: 2}
	_, err := s.Allow(ctx, "live", slow)
	require.NoError(t, err)
	require.NoError(t, s.PauseUntil(ctx, "paused", clk.Now().Add(2*time.Hour)))
	clk.Advance(30 * time.Minute)
	for range sweepEvery {
		_, err = s.Peek(ctx, "other", slow)
		require.NoError(t, err)
	}
	require.Equal(t, 2, s.size())
	d, err := s.Peek(ctx, "live", slow)
	require.NoError(t, err)
	require.Equal(t, 30*time.Minute, d.ResetAfter, "the TAT survived the sweep")
}

func TestCounterDropsExpiredWindows(t *testing.T) {
	t.Parallel()
	clk := newClock()
	c := NewCounter(clk)
	ctx := t.Context()
	for i := range sweepEvery - 1 {
		w := govern.Window{Key: fmt.Sprintf("d%d", i), Limit: 5, Expires: clk.Now().Add(time.Hour)}
		ok, _, err := c.Consume(ctx, []govern.Window{w})
		require.NoError(t, err)
		require.True(t, ok)
	}
	require.Equal(t, sweepEvery-1, c.size())

	clk.Advance(time.Hour)
	used, err := c.Used(ctx, []govern.Window{{Key: "d0", Limit: 5}})
	require.NoError(t, err)
	require.Equal(t, []int64{0}, used, "an expired window reads empty")
	require.Zero(t, c.size())
}

func TestCounterNewPeriodStartsEmpty(t *testing.T) {
	t.Parallel()
	clk := newClock()
	c := NewCounter(clk)
	ctx := t.Context()
	w := []govern.Window{{Key: "q:d", Limit: 1, Expires: clk.Now().Add(time.Minute)}}
	ok, _, err := c.Consume(ctx, w)
	require.NoError(t, err)
	require.True(t, ok)
	ok, _, err = c.Consume(ctx, w)
	require.NoError(t, err)
	require.False(t, ok)

	clk.Advance(time.Minute)
	w[0].Expires = clk.Now().Add(time.Minute)
	ok, _, err = c.Consume(ctx, w)
	require.NoError(t, err)
	require.True(t, ok, "the old window expired with its usage")
}

func TestQuotasOption(t *testing.T) {
	t.Parallel()
	c := NewCounter(nil)
	s := New(Options{Quotas: c})
	w := []govern.Window{{Key: "q", Limit: 3, Expires: time.Now().Add(time.Hour)}}
	ok, _, err := s.Consume(t.Context(), w)
	require.NoError(t, err)
	require.True(t, ok)
	used, err := c.Used(t.Context(), w)
	require.NoError(t, err)
	require.Equal(t, []int64{1}, used, "State counts in the counter it was given")
}

// TestStateFollowsInjectedClock: limits, pauses, TryPause and the default
// counter all read Options.Clock. The clock reads 2001, so anything that
// read the wall clock instead would see every pause and window long over.
func TestStateFollowsInjectedClock(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC))
	s := New(Options{Clock: clk})
	ctx := t.Context()

	l := govern.Limit{Rate: 1, Period: time.Minute, Burst: 1}
	d, err := s.Allow(ctx, "rate", l)
	require.NoError(t, err)
	require.True(t, d.Allowed)
	d, err = s.Allow(ctx, "rate", l)
	require.NoError(t, err)
	require.False(t, d.Allowed)
	require.Equal(t, time.Minute, d.RetryAfter, "measured on the fake clock")
	clk.Advance(time.Minute)
	d, err = s.Allow(ctx, "rate", l)
	require.NoError(t, err)
	require.True(t, d.Allowed, "the unit refilled on the fake clock")

	until := clk.Now().Add(time.Hour)
	require.NoError(t, s.PauseUntil(ctx, "pause", until))
	got, err := s.PausedUntil(ctx, "pause")
	require.NoError(t, err)
	require.True(t, until.Equal(got))

	won, err := s.TryPause(ctx, "try", time.Minute)
	require.NoError(t, err)
	require.True(t, won)
	got, err = s.PausedUntil(ctx, "try")
	require.NoError(t, err)
	require.True(t, clk.Now().Add(time.Minute).Equal(got), "TryPause's length starts at the fake now")
	clk.Advance(time.Minute - time.Nanosecond)
	won, err = s.TryPause(ctx, "try", time.Minute)
	require.NoError(t, err)
	require.False(t, won, "a nanosecond left")
	clk.Advance(time.Nanosecond)
	won, err = s.TryPause(ctx, "try", time.Minute)
	require.NoError(t, err)
	require.True(t, won, "the pause ended on the fake clock")

	w := []govern.Window{{Key: "q", Limit: 1, Expires: clk.Now().Add(time.Hour)}}
	ok, _, err := s.Consume(ctx, w)
	require.NoError(t, err)
	require.True(t, ok)
	used, err := s.Used(ctx, w)
	require.NoError(t, err)
	require.Equal(t, []int64{1}, used, "the default counter is on the same clock")
	clk.Advance(time.Hour)
	used, err = s.Used(ctx, w)
	require.NoError(t, err)
	require.Equal(t, []int64{0}, used)
}
