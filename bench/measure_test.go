package bench

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// These tests pin the measuring code the benchmark numbers depend on; they
// are the only tests in the package and take milliseconds.

func TestPercentile(t *testing.T) {
	t.Parallel()
	ms := func(vs ...int) []time.Duration {
		out := make([]time.Duration, len(vs))
		for i, v := range vs {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100..1, unsorted on purpose
	}
	cases := []struct {
		name string
		ds   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"single", ms(7), 99, 7 * time.Millisecond},
		{"median of odd count", ms(3, 1, 2), 50, 2 * time.Millisecond},
		{"median of even count is the lower middle (nearest rank)", ms(4, 1, 3, 2), 50, 2 * time.Millisecond},
		{"p99 of 1..100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p100 is the maximum", ms(hundred...), 100, 100 * time.Millisecond},
		{"tiny p is the minimum", ms(hundred...), 0.1, 1 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			before := append([]time.Duration(nil), tc.ds...)
			require.Equal(t, tc.want, percentile(tc.ds, tc.p))
			require.Equal(t, before, tc.ds, "percentile must not reorder its input")
		})
	}
}

func TestRunLoadSendsEachRequestOnceAndCountsStatuses(t *testing.T) {
	t.Parallel()
	const n = 1000
	seen := make([]int, n)
	o := runLoad(context.Background(), 8, n, func(_ context.Context, i int) error {
		seen[i]++ // each index goes to exactly one worker, so no race
		switch {
		case i%10 == 0:
			return errStatus{code: 429}
		case i%10 == 1:
			return context.DeadlineExceeded // a transport error: status 0
		}
		return nil
	})
	for i, c := range seen {
		require.Equal(t, 1, c, "request %d", i)
	}
	require.Len(t, o.latencies, n)
	require.Equal(t, map[int]int{200: 800, 429: 100, 0: 100}, o.statuses)
	require.Equal(t, 200, o.failed())
	require.Positive(t, o.elapsed)
}
