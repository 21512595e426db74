package govern_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/govern/memory"
)

// bulkLeases counts the leases AcquireBulk hands out before its first
// refusal, which it must give at once: the fake clock never moves.
func bulkLeases(t *testing.T, g *govern.Governor) int {
	t.Helper()
	for n := 0; ; n++ {
		_, err := g.AcquireBulk(context.Background(), "se", "prod")
		var le *govern.LimitedError
		if errors.As(err, &le) {
			return n
		}
		require.NoError(t, err)
		require.Less(t, n, 1000, "bulk was never refused")
	}
}

// The reserve is share of the capacity rounded up, but never all of it:
// bulk work always keeps one unit, so a job on a tiny limit progresses.
func TestBulkReserveRounding(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		share    float64
		capacity int
		bulk     int
	}{
		{0.2, 10, 8},
		{0.2, 9, 7},  // 1.8 reserved rounds up to 2
		{0.3, 10, 7}, // 0.3·10 is 3.0000000000000004 in floating point: still 3
		{0.2, 2, 1},  // 0.4 rounds up to 1
		{0.2, 1, 1},  // nothing can be kept without stopping bulk work
		{0.9, 5, 1},  // 4.5 rounds up to 5, capped at 4
		{0, 10, 10},  // no share, no reserve
		{0.5, 100, 50},
	} {
		clock := newAutoClock(t0)
		for _, p := range []govern.Policy{
			{Provider: "se", Keys: keys("k1"), Rate: govern.Limit{Rate: 1, Period: time.Hour, Burst: tc.capacity}},
			{Provider: "se", Keys: keys("k1"), Day: int64(tc.capacity)},
			{Provider: "se", Keys: keys("k1"), Month: int64(tc.capacity)},
		} {
			g, err := govern.New(govern.Options{State: memory.New(memory.Options{Clock: clock}), Clock: clock,
				InteractiveShare: tc.share}, []govern.Policy{p}, nil)
			require.NoError(t, err)
			require.Equal(t, tc.bulk, bulkLeases(t, g), "share %v of %d (%+v)", tc.share, tc.capacity, p)
			require.Equal(t, t0, clock.Now(), "bulk never waited")
			for range tc.capacity - tc.bulk {
				_, err := g.Acquire(context.Background(), "se", "prod")
				require.NoError(t, err, "the reserve is there for interactive callers")
			}
		}
	}
}

func TestBulkShareIsValidated(t *testing.T) {
	t.Parallel()
	for _, share := range []float64{-0.1, 1, 1.5, math.NaN()} {
		_, err := govern.New(govern.Options{State: memory.New(memory.Options{}), InteractiveShare: share},
			[]govern.Policy{{Provider: "se", Keys: keys("k1")}}, nil)
		require.ErrorContains(t, err, "InteractiveShare", "share %v", share)
	}
}

func TestBulkIsNeverSentUnpaced(t *testing.T) {
	t.Parallel()
	clock := newAutoClock(t0)
	p := govern.Policy{Provider: "se", Keys: keys("k1"), Rate: govern.Limit{Rate: 1, Period: time.Second, Burst: 1}}
	g, err := govern.New(govern.Options{State: brokenState{}, Clock: clock, FailOpen: true, InteractiveShare: 0.2},
		[]govern.Policy{p}, nil)
	require.NoError(t, err)
	_, err = g.AcquireBulk(context.Background(), "se", "prod")
	require.ErrorIs(t, err, govern.ErrUnavailable, "fail-open is for interactive lookups")
	l, err := g.Acquire(context.Background(), "se", "prod")
	require.NoError(t, err)
	require.Equal(t, "k1", l.KeyID)
}

func TestBulkUnknownProviderAndNoKeys(t *testing.T) {
	t.Parallel()
	clock := newAutoClock(t0)
	g := newGovernor(t, clock, nil, govern.Policy{Keys: keys("k1")})
	_, err := g.AcquireBulk(context.Background(), "nope", "prod")
	require.ErrorIs(t, err, govern.ErrUnknownProvider)
	_, err = g.AcquireBulk(context.Background(), "se", "staging")
	require.ErrorIs(t, err, govern.ErrNoKeys)
}
