package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/govern"
)

func openQuota(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// The quota conformance suite runs as part of storetest.Run (see
// TestConformance).

// TestQuotaFollowsInjectedClock: windows expire by Options.Clock. It reads
// 2001, so a store on the wall clock would find every window long expired.
func TestQuotaFollowsInjectedClock(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC))
	s, err := OpenWith(t.Context(), filepath.Join(t.TempDir(), "intelgate.db"), Options{Clock: clk})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	ctx := t.Context()
	w := []govern.Window{{Key: "q:p:se:k1:d:2001-02-03", Limit: 2, Expires: clk.Now().Add(time.Hour)}}

	for range 2 {
		ok, _, err := s.Consume(ctx, w)
		require.NoError(t, err)
		require.True(t, ok)
	}
	ok, idx, err := s.Consume(ctx, w)
	require.NoError(t, err)
	require.False(t, ok, "the window is live on the fake clock")
	require.Zero(t, idx)
	require.NoError(t, s.Refund(ctx, w))
	used, err := s.Used(ctx, w)
	require.NoError(t, err)
	require.Equal(t, []int64{1}, used, "the refund found the live window")

	clk.Advance(time.Hour - time.Nanosecond)
	used, err = s.Used(ctx, w)
	require.NoError(t, err)
	require.Equal(t, []int64{1}, used, "a nanosecond before expiry")
	clk.Advance(time.Nanosecond)
	used, err = s.Used(ctx, w)
	require.NoError(t, err)
	require.Equal(t, []int64{0}, used, "expired on the fake clock")
	require.NoError(t, s.Refund(ctx, w))
	ok, _, err = s.Consume(ctx, w)
	require.NoError(t, err)
	require.True(t, ok, "an expired window starts from zero")
}

// TestQuotaSurvivesRestart is the point of keeping quotas in SQLite: a
// restart mid-day does not hand the day's quota out again.
func TestQuotaSurvivesRestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "intelgate.db")
	ws := []govern.Window{
		{Key: "q:p:socialeye:prod-1:d:2026-11-27", Limit: 3, Expires: time.Now().Add(time.Hour)},
		{Key: "q:p:socialeye:prod-1:m:2026-11", Limit: 100, Expires: time.Now().Add(48 * time.Hour)},
	}
	s := openQuota(t, path)
	for range 3 {
		ok, _, err := s.Consume(t.Context(), ws)
		require.NoError(t, err)
		require.True(t, ok)
	}
	require.NoError(t, s.Close())

	s = openQuota(t, path)
	used, err := s.Used(t.Context(), ws)
	require.NoError(t, err)
	require.Equal(t, []int64{3, 3}, used)
	ok, idx, err := s.Consume(t.Context(), ws)
	require.NoError(t, err)
	require.False(t, ok, "the day is still spent after the restart")
	require.Zero(t, idx)
}

func TestQuotaExpiredWindows(t *testing.T) {
	t.Parallel()
	s := openQuota(t, filepath.Join(t.TempDir(), "intelgate.db"))
	ctx := t.Context()
	day := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	w := govern.Window{Key: "q:c:siem:d:2026-11-27", Limit: 1, Expires: day.Add(24 * time.Hour)}
	ok, _, err := s.consume(ctx, []govern.Window{w}, day.Add(time.Hour))
	require.NoError(t, err)
	require.True(t, ok)
	ok, _, err = s.consume(ctx, []govern.Window{w}, day.Add(2*time.Hour))
	require.NoError(t, err)
	require.False(t, ok)

	after := w.Expires
	used, err := s.used(ctx, []govern.Window{w}, after)
	require.NoError(t, err)
	require.Equal(t, []int64{0}, used, "a row reads zero from its expiry on")

	next := govern.Window{Key: "q:c:siem:d:2026-11-28", Limit: 1, Expires: after.Add(24 * time.Hour)}
	ok, _, err = s.consume(ctx, []govern.Window{next}, after)
	require.NoError(t, err)
	require.True(t, ok)
	var rows int
	require.NoError(t, QueryRowForTest(t, s, "SELECT count(*) FROM quota_usage").Scan(&rows))
	require.Equal(t, 1, rows, "the expired day was deleted by the next write")

	// A key reused after its expiry (a counter with a fixed name) starts
	// from zero rather than from the stale count.
	w.Expires = after.Add(time.Hour)
	ok, _, err = s.consume(ctx, []govern.Window{w}, after.Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
}

func TestQuotaErrorsAreUnavailable(t *testing.T) {
	t.Parallel()
	s := openQuota(t, filepath.Join(t.TempDir(), "intelgate.db"))
	require.NoError(t, s.Close())
	ws := []govern.Window{{Key: "q", Limit: 1, Expires: time.Now().Add(time.Hour)}}
	_, _, err := s.Consume(t.Context(), ws)
	require.ErrorIs(t, err, govern.ErrUnavailable)
	require.ErrorIs(t, s.Refund(t.Context(), ws), govern.ErrUnavailable)
	_, err = s.Used(t.Context(), ws)
	require.ErrorIs(t, err, govern.ErrUnavailable)
}
