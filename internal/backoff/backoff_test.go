package backoff

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCeiling(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		base, limit time.Duration
		retry       int
		want        time.Duration
	}{
		{"first retry is base", 100 * time.Millisecond, time.Second, 1, 100 * time.Millisecond},
		{"doubles", 100 * time.Millisecond, time.Second, 3, 400 * time.Millisecond},
		{"capped", 100 * time.Millisecond, time.Second, 5, time.Second},
		{"base above the limit", 5 * time.Second, time.Second, 1, time.Second},
		{"no limit saturates", time.Second, 0, 1000, math.MaxInt64},
		{"limit near overflow", time.Second, math.MaxInt64 - 1, 200, math.MaxInt64 - 1},
		{"no base", 0, time.Second, 3, 0},
		{"no retry yet", time.Second, time.Minute, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, Ceiling(tc.base, tc.limit, tc.retry))
		})
	}
}

func TestJitterStaysBelowTheCeiling(t *testing.T) {
	t.Parallel()
	cases := []struct {
		ceiling time.Duration
		u       float64
		want    time.Duration
	}{
		{time.Second, 0, 0},
		{time.Second, 0.5, 500 * time.Millisecond},
		{time.Second, 1, time.Second - 1},
		{time.Second, 7, time.Second - 1},
		{time.Second, -1, 0},
		{time.Second, math.NaN(), 0},
		{math.MaxInt64, 1, math.MaxInt64 - 1},
		{0, 0.5, 0},
	}
	for _, tc := range cases {
		got := Jitter(tc.ceiling, tc.u)
		require.Equal(t, tc.want, got, "Jitter(%d, %v)", tc.ceiling, tc.u)
	}
}
