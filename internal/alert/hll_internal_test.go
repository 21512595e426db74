package alert

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// The estimate is within a few standard errors (2.3%) of the truth, from
// a handful to far beyond the thresholds anyone sets, and repeats do not
// count.
func TestHLLEstimate(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 10, 100, 500, 1000, 5000, 50_000, 500_000} {
		var h hll
		h.reset()
		for i := range n {
			h.add(uint64(i))
			h.add(uint64(i)) // a repeat changes nothing
		}
		got := h.estimate()
		tol := math.Max(1, 0.07*float64(n))
		require.InDelta(t, float64(n), got, tol, "n=%d", n)
	}
}

// The incrementally kept harmonic sum equals the one computed from the
// registers.
func TestHLLIncrementalSum(t *testing.T) {
	t.Parallel()
	var h hll
	h.reset()
	for i := range 100_000 {
		h.add(uint64(i) * 0x9E3779B97F4A7C15)
	}
	sum, zeros := 0.0, 0
	for _, r := range h.reg {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	require.InDelta(t, sum, h.sum, 1e-9)
	require.Equal(t, zeros, h.zeros)
}

func TestLRU(t *testing.T) {
	t.Parallel()
	l := newLRU[int, int](3)
	for i := range 3 {
		v, ev := l.put(i)
		*v = i * 10
		require.False(t, ev)
	}
	_, ok := l.get(0) // 0 is now the most recent; 1 the least
	require.True(t, ok)
	v, ev := l.put(3)
	require.True(t, ev)
	require.Zero(t, *v, "a reused node starts empty")
	_, ok = l.get(1)
	require.False(t, ok, "the least recently used went")
	for _, k := range []int{0, 2, 3} {
		_, ok := l.get(k)
		require.True(t, ok, k)
	}
	require.Equal(t, 3, l.len())
}
