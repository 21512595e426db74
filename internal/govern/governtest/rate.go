package governtest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/govern"
)

// hourly is slow enough that no unit refills while a test runs, so tests
// on a wall clock get exact results.
var hourly = govern.Limit{Rate: 1, Period: time.Hour, Burst: 5}

func rateTests() []stateTest {
	return []stateTest{
		{"RateBurstThenDenied", testRateBurst},
		{"RateRemainingCountsDown", testRateRemaining},
		{"RatePeekDoesNotConsume", testRatePeek},
		{"RateUnlimited", testRateUnlimited},
		{"RateBurstBelowOneIsOne", testRateBurstBelowOne},
		{"RateKeysIndependent", testRateKeys},
		{"RateConcurrentExact", testRateConcurrent},
		{"RateReserveBooksInOrder", testRateReserve},
		{"RateReserveConcurrentExact", testRateReserveConcurrent},
		{"RateDrainEmptiesTheBucket", testRateDrain},
	}
}

func rateClockTests() []stateTest {
	return []stateTest{
		{"RateRefillAfterInterval", testRateRefill},
		{"RateResetAfter", testRateResetAfter},
		{"RateIdleDoesNotBankBeyondBurst", testRateIdle},
		{"RateRetryAfterExact", testRateRetryAfter},
	}
}

// allowN calls Allow n times and requires each call to be allowed.
func allowN(t *testing.T, s govern.RateLimiter, k string, l govern.Limit, n int) {
	t.Helper()
	for i := range n {
		d, err := s.Allow(t.Context(), k, l)
		require.NoError(t, err)
		require.True(t, d.Allowed, "call %d of %d", i+1, n)
	}
}

func testRateBurst(t *testing.T, h Harness) {
	s, k := h.New(t), key(t, "burst")
	allowN(t, s, k, hourly, hourly.Burst)
	d, err := s.Allow(t.Context(), k, hourly)
	require.NoError(t, err)
	require.False(t, d.Allowed)
	require.Zero(t, d.Remaining)
	require.Positive(t, d.RetryAfter)
	require.LessOrEqual(t, d.RetryAfter, hourly.Interval())
	require.Positive(t, d.ResetAfter)
	require.LessOrEqual(t, d.ResetAfter, time.Duration(hourly.Burst)*hourly.Interval())
}

func testRateRemaining(t *testing.T, h Harness) {
	s, k := h.New(t), key(t, "remaining")
	for want := hourly.Burst - 1; want >= 0; want-- {
		d, err := s.Allow(t.Context(), k, hourly)
		require.NoError(t, err)
		require.True(t, d.Allowed)
		require.Equal(t, want, d.Remaining)
		require.Zero(t, d.RetryAfter)
		require.Positive(t, d.ResetAfter)
	}
}

func testRatePeek(t *testing.T, h Harness) {
	s, k := h.New(t), key(t, "peek")
	d, err := s.Peek(t.Context(), k, hourly)
	require.NoError(t, err)
	require.True(t, d.Allowed)
	require.Equal(t, hourly.Burst, d.Remaining, "a new key is full")
	require.Zero(t, d.ResetAfter, "a new key is full")

	allowN(t, s, k, hourly, 2)
	for range 3 {
		d, err = s.Peek(t.Context(), k, hourly)
		require.NoError(t, err)
		require.True(t, d.Allowed)
		require.Equal(t, hourly.Burst-2, d.Remaining)
	}
	allowN(t, s, k, hourly, hourly.Burst-2)
	d, err = s.Peek(t.Context(), k, hourly)
	require.NoError(t, err)
	require.False(t, d.Allowed)
	require.Zero(t, d.Remaining)
	require.Positive(t, d.RetryAfter)
	require.LessOrEqual(t, d.RetryAfter, hourly.Interval())
}

func testRateUnlimited(t *testing.T, h Harness) {
	s, k := h.New(t), key(t, "unlimited")
	for _, l := range []govern.Limit{{}, {Rate: 0, Period: time.Second, Burst: 1}, {Rate: 5, Burst: 1}} {
		for range 100 {
			d, err := s.Allow(t.Context(), k, l)
			require.NoError(t, err)
			require.True(t, d.Allowed, "%+v", l)
			require.Zero(t, d.RetryAfter)
		}
		d, err := s.Peek(t.Context(), k, l)
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}
}

func testRateBurstBelowOne(t *testing.T, h Harness) {
	s := h.New(t)
	for _, burst := range []int{0, -3} {
		k := key(t, "burst-below-one")
		l := govern.Limit{Rate: 1, Period: time.Hour, Burst: burst}
		allowN(t, s, k, l, 1)
		d, err := s.Allow(t.Context(), k, l)
		require.NoError(t, err)
		require.False(t, d.Allowed, "burst %d acts as 1", burst)
	}
}

func testRateKeys(t *testing.T, h Harness) {
	s, a, b := h.New(t), key(t, "a"), key(t, "b")
	allowN(t, s, a, hourly, hourly.Burst)
	d, err := s.Allow(t.Context(), a, hourly)
	require.NoError(t, err)
	require.False(t, d.Allowed)
	d, err = s.Allow(t.Context(), b, hourly)
	require.NoError(t, err)
	require.True(t, d.Allowed, "b is not a")
	require.Equal(t, hourly.Burst-1, d.Remaining)
}

// testRateConcurrent is what proves replicas never together exceed a limit:
// 50 callers over (with NewShared) two handles, exactly Burst allowed.
func testRateConcurrent(t *testing.T, h Harness) {
	a, b := h.pair(t)
	k := key(t, "concurrent")
	l := govern.Limit{Rate: 1, Period: time.Hour, Burst: 10}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, 50)
	for i := range 50 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			<-start
			d, err := s.Allow(t.Context(), k, l)
			if err != nil {
				errs <- err
				return
			}
			if d.Allowed {
				allowed.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.EqualValues(t, 10, allowed.Load())
}

// perSecond refills one unit a second: clock tests use exact arithmetic.
var perSecond = govern.Limit{Rate: 1, Period: time.Second, Burst: 3}

func testRateRefill(t *testing.T, h Harness) {
	s, k := h.New(t), key(t, "refill")
	allowN(t, s, k, perSecond, perSecond.Burst)
	d, err := s.Allow(t.Context(), k, perSecond)
	require.NoError(t, err)
	require.False(t, d.Allowed)

	h.Advance(perSecond.Interval() - time.Millisecond)
	d, err = s.Allow(t.Context(), k, perSecond)
	require.NoError(t, err)
	require.False(t, d.Allowed, "not yet one interval")
	require.Equal(t, time.Millisecond, d.RetryAfter)

	h.Advance(time.Millisecond)
	d, err = s.Allow(t.Context(), k, perSecond)
	require.NoError(t, err)
	require.True(t, d.Allowed, "one interval refills one unit")
	require.Zero(t, d.Remaining)
	d, err = s.Allow(t.Context(), k, perSecond)
	require.NoError(t, err)
	require.False(t, d.Allowed, "and only one")
}

func testRateResetAfter(t *testing.T, h Harness) {
	s, k := h.New(t), key(t, "reset")
	d, err := s.Allow(t.Context(), k, perSecond)
	require.NoError(t, err)
	require.Equal(t, perSecond.Interval(), d.ResetAfter)
	allowN(t, s, k, perSecond, perSecond.Burst-1)
	d, err = s.Peek(t.Context(), k, perSecond)
	require.NoError(t, err)
	full := time.Duration(perSecond.Burst) * perSecond.Interval()
	require.Equal(t, full, d.ResetAfter)

	h.Advance(full)
	d, err = s.Peek(t.Context(), k, perSecond)
	require.NoError(t, err)
	require.Equal(t, perSecond.Burst, d.Remaining, "full after ResetAfter")
	require.Zero(t, d.ResetAfter)
}

func testRateIdle(t *testing.T, h Harness) {
	s, k := h.New(t), key(t, "idle")
	allowN(t, s, k, perSecond, 1)
	h.Advance(1000 * perSecond.Period)
	d, err := s.Peek(t.Context(), k, perSecond)
	require.NoError(t, err)
	require.Equal(t, perSecond.Burst, d.Remaining)
	allowN(t, s, k, perSecond, perSecond.Burst)
	d, err = s.Allow(t.Context(), k, perSecond)
	require.NoError(t, err)
	require.False(t, d.Allowed, "idle time banks at most Burst")
}

func testRateRetryAfter(t *testing.T, h Harness) {
	s, k := h.New(t), key(t, "retry-after")
	l := govern.Limit{Rate: 10, Period: time.Second, Burst: 2} // 100ms interval
	allowN(t, s, k, l, 2)
	h.Advance(30 * time.Millisecond)
	d, err := s.Allow(t.Context(), k, l)
	require.NoError(t, err)
	require.False(t, d.Allowed)
	require.Equal(t, 70*time.Millisecond, d.RetryAfter)
	require.Equal(t, 170*time.Millisecond, d.ResetAfter)

	h.Advance(d.RetryAfter)
	allowN(t, s, k, l, 1)
}

// testRateReserve: once the burst is spent, Reserve books the next units in
// order, each due one interval after the previous, and refuses (taking
// nothing) a unit due beyond maxWait.
func testRateReserve(t *testing.T, h Harness) {
	s, k := h.New(t), key(t, "reserve")
	l := govern.Limit{Rate: 1, Period: time.Hour, Burst: 2}
	d, err := s.Reserve(t.Context(), k, l, 3*time.Hour)
	require.NoError(t, err)
	require.True(t, d.Allowed)
	require.Zero(t, d.RetryAfter, "a unit available now needs no wait")
	allowN(t, s, k, l, 1)

	var waits []time.Duration
	for range 2 {
		d, err := s.Reserve(t.Context(), k, l, 3*time.Hour)
		require.NoError(t, err)
		require.True(t, d.Allowed)
		require.Zero(t, d.Remaining)
		waits = append(waits, d.RetryAfter)
	}
	require.InDelta(t, time.Hour, waits[0], float64(time.Minute), "first booked unit ~1 interval away")
	require.InDelta(t, 2*time.Hour, waits[1], float64(time.Minute), "second booked unit ~2 intervals away")

	d, err = s.Reserve(t.Context(), k, l, 2*time.Hour)
	require.NoError(t, err)
	require.False(t, d.Allowed, "the next unit is ~3h away, beyond maxWait")
	require.Greater(t, d.RetryAfter, 2*time.Hour)
	peek, err := s.Peek(t.Context(), k, l)
	require.NoError(t, err)
	require.InDelta(t, d.RetryAfter, peek.RetryAfter, float64(time.Minute), "a refused Reserve took nothing")

	d, err = s.Reserve(t.Context(), k, l, 0)
	require.NoError(t, err)
	require.False(t, d.Allowed, "Reserve with no wait is Allow")
}

// testRateReserveConcurrent: many concurrent Reserves across two handles
// book exactly the units due within maxWait, no more.
func testRateReserveConcurrent(t *testing.T, h Harness) {
	a, b := h.pair(t)
	k := key(t, "reserve-concurrent")
	l := govern.Limit{Rate: 1, Period: time.Hour, Burst: 3}
	var booked atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, 40) // checked on the test goroutine
	for i := range 40 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			d, err := s.Reserve(t.Context(), k, l, 4*time.Hour+30*time.Minute)
			errs <- err
			if err == nil && d.Allowed {
				booked.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, int32(3+4), booked.Load(), "the burst plus the four units due within 4.5h")
}

// testRateDrain: after Drain(until), nothing is available before until and
// the burst is gone; a Drain to an earlier moment changes nothing.
func testRateDrain(t *testing.T, h Harness) {
	s, k := h.New(t), key(t, "drain")
	until := h.now().Add(2 * time.Hour)
	require.NoError(t, s.Drain(t.Context(), k, hourly, until))
	d, err := s.Peek(t.Context(), k, hourly)
	require.NoError(t, err)
	require.False(t, d.Allowed)
	require.InDelta(t, 2*time.Hour, d.RetryAfter, float64(time.Minute))
	require.NoError(t, s.Drain(t.Context(), k, hourly, h.now().Add(time.Hour)))
	d, err = s.Peek(t.Context(), k, hourly)
	require.NoError(t, err)
	require.InDelta(t, 2*time.Hour, d.RetryAfter, float64(time.Minute), "a drain never shortens")
	// Booking after the drain: one unit per interval from until on.
	d, err = s.Reserve(t.Context(), k, hourly, 10*time.Hour)
	require.NoError(t, err)
	require.True(t, d.Allowed)
	require.InDelta(t, 2*time.Hour, d.RetryAfter, float64(time.Minute))
	d, err = s.Reserve(t.Context(), k, hourly, 10*time.Hour)
	require.NoError(t, err)
	require.InDelta(t, 3*time.Hour, d.RetryAfter, float64(time.Minute), "no burst credit after a drain")
}
