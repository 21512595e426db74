package governtest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/govern"
)

type quotaTest struct {
	name string
	fn   func(t *testing.T, newPair func(t *testing.T) (govern.QuotaCounter, govern.QuotaCounter), now func() time.Time)
}

func runQuota(t *testing.T, newPair func(t *testing.T) (govern.QuotaCounter, govern.QuotaCounter), now func() time.Time) {
	t.Helper()
	tests := []quotaTest{
		{"QuotaCountsToLimit", testQuotaLimit},
		{"QuotaAllOrNothing", testQuotaAllOrNothing},
		{"QuotaExhaustedIndex", testQuotaExhaustedIndex},
		{"QuotaRefundFloorsAtZero", testQuotaRefund},
		{"QuotaRefundFreesAUnit", testQuotaRefundFrees},
		{"QuotaUsedUnknown", testQuotaUsedUnknown},
		{"QuotaWindowsIndependent", testQuotaIndependent},
		{"QuotaConcurrentExact", testQuotaConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newPair, now)
		})
	}
}

// windows returns a day and a month window with fresh keys.
func windows(t *testing.T, now func() time.Time, dayLimit, monthLimit int64) (day, month govern.Window) {
	n := now()
	day = govern.Window{Key: key(t, "d"), Limit: dayLimit, Expires: n.Add(24 * time.Hour)}
	month = govern.Window{Key: key(t, "m"), Limit: monthLimit, Expires: n.Add(31 * 24 * time.Hour)}
	return day, month
}

func consume(t *testing.T, c govern.QuotaCounter, ws ...govern.Window) (bool, int) {
	t.Helper()
	ok, idx, err := c.Consume(t.Context(), ws)
	require.NoError(t, err)
	return ok, idx
}

func requireUsed(t *testing.T, c govern.QuotaCounter, ws []govern.Window, want ...int64) {
	t.Helper()
	got, err := c.Used(t.Context(), ws)
	require.NoError(t, err)
	require.Equal(t, want, got)
}

type pairFunc = func(t *testing.T) (govern.QuotaCounter, govern.QuotaCounter)

func testQuotaLimit(t *testing.T, newPair pairFunc, now func() time.Time) {
	c, _ := newPair(t)
	day, _ := windows(t, now, 3, 0)
	for range 3 {
		ok, _ := consume(t, c, day)
		require.True(t, ok)
	}
	ok, idx := consume(t, c, day)
	require.False(t, ok)
	require.Zero(t, idx)
	requireUsed(t, c, []govern.Window{day}, 3)
}

func testQuotaAllOrNothing(t *testing.T, newPair pairFunc, now func() time.Time) {
	c, _ := newPair(t)
	day, month := windows(t, now, 5, 3)
	for range 3 {
		ok, _ := consume(t, c, month)
		require.True(t, ok)
	}
	ok, idx := consume(t, c, day, month)
	require.False(t, ok)
	require.Equal(t, 1, idx)
	requireUsed(t, c, []govern.Window{day, month}, 0, 3)
}

func testQuotaExhaustedIndex(t *testing.T, newPair pairFunc, now func() time.Time) {
	c, _ := newPair(t)
	day, month := windows(t, now, 1, 1)
	ok, _ := consume(t, c, day)
	require.True(t, ok)
	ok, idx := consume(t, c, month, day)
	require.False(t, ok)
	require.Equal(t, 1, idx, "day is second here")
	ok, _ = consume(t, c, month)
	require.True(t, ok)
	ok, idx = consume(t, c, month, day)
	require.False(t, ok)
	require.Zero(t, idx, "both full: the first one")
	requireUsed(t, c, []govern.Window{day, month}, 1, 1)
}

func testQuotaRefund(t *testing.T, newPair pairFunc, now func() time.Time) {
	c, _ := newPair(t)
	day, month := windows(t, now, 2, 10)
	ws := []govern.Window{day, month}
	ok, _ := consume(t, c, ws...)
	require.True(t, ok)
	require.NoError(t, c.Refund(t.Context(), ws))
	require.NoError(t, c.Refund(t.Context(), ws))
	requireUsed(t, c, ws, 0, 0)

	unknown, _ := windows(t, now, 2, 2)
	require.NoError(t, c.Refund(t.Context(), []govern.Window{unknown}))
	requireUsed(t, c, []govern.Window{unknown}, 0)

	// The floor held: the limit is exactly the limit, not limit+refunds.
	for range 2 {
		ok, _ = consume(t, c, ws...)
		require.True(t, ok)
	}
	ok, idx := consume(t, c, ws...)
	require.False(t, ok)
	require.Zero(t, idx)
	require.NoError(t, c.Refund(t.Context(), ws))
	requireUsed(t, c, ws, 1, 1)
}

func testQuotaRefundFrees(t *testing.T, newPair pairFunc, now func() time.Time) {
	c, _ := newPair(t)
	day, month := windows(t, now, 1, 5)
	ws := []govern.Window{day, month}
	ok, _ := consume(t, c, ws...)
	require.True(t, ok)
	ok, _ = consume(t, c, ws...)
	require.False(t, ok)
	require.NoError(t, c.Refund(t.Context(), ws))
	requireUsed(t, c, ws, 0, 0)
	ok, _ = consume(t, c, ws...)
	require.True(t, ok)
	requireUsed(t, c, ws, 1, 1)
}

func testQuotaUsedUnknown(t *testing.T, newPair pairFunc, now func() time.Time) {
	c, _ := newPair(t)
	day, month := windows(t, now, 1, 1)
	requireUsed(t, c, []govern.Window{day, month}, 0, 0)
	got, err := c.Used(t.Context(), nil)
	require.NoError(t, err)
	require.Empty(t, got)
	ok, _, err := c.Consume(t.Context(), nil)
	require.NoError(t, err)
	require.True(t, ok, "no windows, nothing to exhaust")
}

func testQuotaIndependent(t *testing.T, newPair pairFunc, now func() time.Time) {
	c, _ := newPair(t)
	a, b := windows(t, now, 1, 1)
	ok, _ := consume(t, c, a)
	require.True(t, ok)
	ok, _ = consume(t, c, b)
	require.True(t, ok, "b is not a")
	requireUsed(t, c, []govern.Window{a, b}, 1, 1)
}

// testQuotaConcurrent: 50 callers over (when shared) two handles take
// exactly the day's 10 units, and the month counts the same 10.
func testQuotaConcurrent(t *testing.T, newPair pairFunc, now func() time.Time) {
	a, b := newPair(t)
	day, month := windows(t, now, 10, 30)
	ws := []govern.Window{day, month}
	var taken atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, 50)
	for i := range 50 {
		c := a
		if i%2 == 1 {
			c = b
		}
		wg.Go(func() {
			<-start
			ok, _, err := c.Consume(t.Context(), ws)
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
	require.EqualValues(t, 10, taken.Load())
	requireUsed(t, a, ws, 10, 10)
}
