package postgres_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/pgtest"
	"github.com/intelgate/intelgate/internal/store/postgres"
)

// The quota conformance suite runs as part of storetest.Run (see
// TestConformance).

// TestQuotaFollowsInjectedClock: windows expire by Options.Clock, not by
// the server's now(). It reads 2001, so a store on the wall clock would
// find every window long expired.
func TestQuotaFollowsInjectedClock(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC))
	s := open(t, pgtest.DSN(t), postgres.Options{Clock: clk})
	ctx := t.Context()
	w := []govern.Window{{Key: "q:p:se:k1:d:2001-02-03", Limit: 2, Expires: clk.Now().Add(time.Hour)}}
	used := func() int64 {
		t.Helper()
		u, err := s.Used(ctx, w)
		require.NoError(t, err)
		return u[0]
	}

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
	require.Equal(t, int64(1), used(), "the refund found the live window")

	clk.Advance(time.Hour - time.Nanosecond) // stored truncated to microseconds, like the expiry
	require.Equal(t, int64(1), used(), "a nanosecond before expiry")
	clk.Advance(time.Nanosecond)
	require.Equal(t, int64(0), used(), "expired on the fake clock")
	require.NoError(t, s.Refund(ctx, w))

	// The same key after its end starts again from zero, with the new end.
	w[0].Expires = clk.Now().Add(time.Hour)
	ok, _, err = s.Consume(ctx, w)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, int64(1), used())
}

// TestQuotaAcrossReplicas: three stores on one schema (three replicas)
// taking from the same day and month windows at once take exactly the
// day's limit between them, and never a unit of one window without the
// other.
func TestQuotaAcrossReplicas(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	var replicas []*postgres.Store
	for range 3 {
		replicas = append(replicas, open(t, dsn, postgres.Options{}))
	}
	now := time.Now()
	// Keys in both orders across callers: a store that locked rows in the
	// callers' order would deadlock here.
	day := govern.Window{Key: "q:p:se:k1:d", Limit: 25, Expires: now.Add(24 * time.Hour)}
	month := govern.Window{Key: "q:p:se:k1:m", Limit: 1000, Expires: now.Add(30 * 24 * time.Hour)}
	const callers = 60
	var taken atomic.Int64
	errs := make(chan error, callers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range callers {
		ws := []govern.Window{day, month}
		if i%2 == 1 {
			ws = []govern.Window{month, day}
		}
		s := replicas[i%len(replicas)]
		wg.Go(func() {
			<-start
			ok, _, err := s.Consume(t.Context(), ws)
			if err != nil {
				errs <- err
				return
			}
			if ok {
				taken.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.EqualValues(t, day.Limit, taken.Load())
	used, err := replicas[1].Used(t.Context(), []govern.Window{day, month})
	require.NoError(t, err)
	require.Equal(t, []int64{day.Limit, day.Limit}, used, "the month counted exactly the day's units")
}

// TestQuotaExhaustedIndexIsTheCallersOrder: the index of the first full
// window is in the order the caller passed, although rows are locked in
// key order.
func TestQuotaExhaustedIndexIsTheCallersOrder(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.DSN(t), postgres.Options{})
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	a := govern.Window{Key: "a", Limit: 1, Expires: exp}
	b := govern.Window{Key: "b", Limit: 1, Expires: exp}
	z := govern.Window{Key: "z", Limit: 5, Expires: exp}
	for _, w := range []govern.Window{a, b} {
		ok, _, err := s.Consume(ctx, []govern.Window{w})
		require.NoError(t, err)
		require.True(t, ok)
	}
	tests := []struct {
		ws   []govern.Window
		want int
	}{
		{[]govern.Window{z, b, a}, 1},
		{[]govern.Window{z, a, b}, 1},
		{[]govern.Window{b, z}, 0},
		{[]govern.Window{z, {Key: "none", Limit: 0, Expires: exp}}, 1},
	}
	for _, tc := range tests {
		ok, idx, err := s.Consume(ctx, tc.ws)
		require.NoError(t, err)
		require.False(t, ok)
		require.Equal(t, tc.want, idx, "%v", tc.ws)
	}
	used, err := s.Used(ctx, []govern.Window{z})
	require.NoError(t, err)
	require.Equal(t, []int64{0}, used, "refused consumes took nothing")
}
