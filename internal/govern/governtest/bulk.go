package governtest

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/secret"
)

// The interactive reserve (govern.Governor.AcquireBulk) rests on one
// property of the rate limiter: a caller checking a bucket with a smaller
// burst than another's, on the same key, can only take units while more
// than the difference is left. The first tests pin that property for the
// backend; the rest run a Governor on it, so that both backends keep the
// reserve the same way.

func bulkTests() []stateTest {
	return []stateTest{
		{"RateSmallerBurstLeavesTheRest", testRateSmallerBurst},
		{"RateBookingStopsASmallerBurst", testRateBookingStopsSmallerBurst},
		{"RateSmallerBurstConcurrentExact", testRateSmallerBurstConcurrent},
		{"BulkKeepsTheInteractiveReserve", testBulkKeepsReserve},
		{"BulkKeepsTheQuotaReserve", testBulkQuotaReserve},
		{"BulkNeverBooksBehindAWaiter", testBulkBehindBooking},
		{"BulkAcrossReplicasKeepsTheReserve", testBulkConcurrent},
		{"BulkHonoursPausesAndFailsOver", testBulkPaused},
	}
}

func bulkClockTests() []stateTest {
	return []stateTest{
		{"BulkRetryAfterIsExact", testBulkRetryAfter},
	}
}

// small is hourly with the interactive reserve of 2 taken off its burst.
var small = govern.Limit{Rate: hourly.Rate, Period: hourly.Period, Burst: hourly.Burst - 2}

func testRateSmallerBurst(t *testing.T, h Harness) {
	s, k := h.New(t), key(t, "smaller-burst")
	allowN(t, s, k, small, small.Burst)
	d, err := s.Allow(t.Context(), k, small)
	require.NoError(t, err)
	require.False(t, d.Allowed, "the smaller burst is spent")
	require.InDelta(t, hourly.Interval(), d.RetryAfter, float64(time.Minute), "its next unit is one interval away")
	allowN(t, s, k, hourly, hourly.Burst-small.Burst) // what it left is there for the full burst
	d, err = s.Allow(t.Context(), k, hourly)
	require.NoError(t, err)
	require.False(t, d.Allowed, "and no more")
	d, err = s.Allow(t.Context(), k, small)
	require.NoError(t, err)
	require.False(t, d.Allowed)
	require.InDelta(t, 3*hourly.Interval(), d.RetryAfter, float64(time.Minute),
		"the smaller burst waits until the difference has refilled, and one more")
}

// testRateBookingStopsSmallerBurst: units booked ahead by full-burst
// callers put the bucket in debt, and the smaller burst waits for all of
// it to be paid off.
func testRateBookingStopsSmallerBurst(t *testing.T, h Harness) {
	s, k := h.New(t), key(t, "booked-smaller")
	allowN(t, s, k, hourly, hourly.Burst)
	d, err := s.Reserve(t.Context(), k, hourly, 2*time.Hour)
	require.NoError(t, err)
	require.True(t, d.Allowed, "booked one interval ahead")
	d, err = s.Allow(t.Context(), k, small)
	require.NoError(t, err)
	require.False(t, d.Allowed)
	// TAT is now+6h; the smaller burst needs TAT ≤ now+2h.
	require.InDelta(t, 4*time.Hour, d.RetryAfter, float64(time.Minute))
}

// testRateSmallerBurstConcurrent: callers of both bursts racing over two
// handles take exactly the full burst together, the smaller ones at most
// theirs.
func testRateSmallerBurstConcurrent(t *testing.T, h Harness) {
	a, b := h.pair(t)
	k := key(t, "smaller-concurrent")
	var smallAllowed, fullAllowed atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, 60)
	for i := range 60 {
		s, l, n := a, hourly, &fullAllowed
		if i%2 == 1 {
			s = b
		}
		if i%3 != 0 {
			l, n = small, &smallAllowed
		}
		wg.Go(func() {
			<-start
			d, err := s.Allow(t.Context(), k, l)
			errs <- err
			if err == nil && d.Allowed {
				n.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.EqualValues(t, hourly.Burst, smallAllowed.Load()+fullAllowed.Load(), "the whole burst, no more")
	require.LessOrEqual(t, smallAllowed.Load(), int32(small.Burst), "the smaller burst never took the difference")
}

// countingClock is a governor's clock on the backend's time whose After
// fires at once and counts: a bulk acquisition must never call it (it
// never waits), an interactive one calls it when it booked a unit.
type countingClock struct {
	now    func() time.Time
	afters atomic.Int32
}

func (c *countingClock) Now() time.Time { return c.now() }

func (c *countingClock) After(time.Duration) <-chan time.Time {
	c.afters.Add(1)
	ch := make(chan time.Time, 1)
	ch <- c.now()
	return ch
}

// bulkGovernor is a Governor over st for provider "se" with keys ids (all
// of environment prod) and interactive share 0.2.
func bulkGovernor(t *testing.T, h Harness, st govern.State, p govern.Policy, ids ...string) (*govern.Governor, *countingClock) {
	t.Helper()
	clk := &countingClock{now: h.now}
	p.Provider = "se"
	// Keys unique to the test: handles may share one backend.
	run := key(t, "bulk")
	for _, id := range ids {
		p.Keys = append(p.Keys, govern.Key{ID: run + ":" + id, Environment: "prod", Value: secret.NewValue("secret-" + id)})
	}
	g, err := govern.New(govern.Options{State: st, Clock: clk, InteractiveShare: 0.2}, []govern.Policy{p}, nil)
	require.NoError(t, err)
	return g, clk
}

// requireBulkLimited checks a bulk refusal: a *LimitedError for reason.
func requireBulkLimited(t *testing.T, err error, reason string) *govern.LimitedError {
	t.Helper()
	var le *govern.LimitedError
	require.True(t, errors.As(err, &le), "want *LimitedError, got %v", err)
	require.Equal(t, reason, le.Reason)
	require.Positive(t, le.RetryAfter)
	return le
}

// testBulkKeepsReserve: of a burst of 10 with a share of 0.2, bulk work
// takes 8 and is refused the 9th at once, with the time until the bucket
// has room for it again; interactive callers still find their 2.
func testBulkKeepsReserve(t *testing.T, h Harness) {
	rate := govern.Limit{Rate: 1, Period: time.Hour, Burst: 10}
	g, clk := bulkGovernor(t, h, h.New(t), govern.Policy{Rate: rate, MaxWait: 3 * time.Hour}, "k1")
	ctx := t.Context()
	for i := range 8 {
		_, err := g.AcquireBulk(ctx, "se", "prod")
		require.NoError(t, err, "bulk unit %d", i+1)
	}
	_, err := g.AcquireBulk(ctx, "se", "prod")
	le := requireBulkLimited(t, err, "rate")
	require.InDelta(t, time.Hour, le.RetryAfter, float64(time.Minute), "one interval until a unit beyond the reserve")
	for i := range 2 {
		_, err := g.Acquire(ctx, "se", "prod")
		require.NoError(t, err, "interactive unit %d", i+1)
	}
	require.Zero(t, clk.afters.Load(), "nobody waited: bulk never does, and the reserve was there")
}

// testBulkQuotaReserve: bulk work stops at the day's capacity less the
// share, and is told when the day ends; interactive callers spend the rest.
func testBulkQuotaReserve(t *testing.T, h Harness) {
	cal := govern.Calendar{Loc: time.UTC}
	g, _ := bulkGovernor(t, h, h.New(t), govern.Policy{Day: 10, Calendar: cal}, "k1")
	ctx := t.Context()
	for i := range 8 {
		_, err := g.AcquireBulk(ctx, "se", "prod")
		require.NoError(t, err, "bulk unit %d", i+1)
	}
	_, err := g.AcquireBulk(ctx, "se", "prod")
	le := requireBulkLimited(t, err, "day_quota")
	_, _, end := cal.Day(h.now())
	require.InDelta(t, end.Sub(h.now()), le.RetryAfter, float64(time.Minute), "until the day's window resets")
	for i := range 2 {
		_, err := g.Acquire(ctx, "se", "prod")
		require.NoError(t, err, "interactive unit %d", i+1)
	}
	_, err = g.Acquire(ctx, "se", "prod")
	requireBulkLimited(t, err, "day_quota")
}

// testBulkBehindBooking: while an interactive caller has booked a unit
// ahead (the bucket in debt), bulk work takes nothing, and is told how
// long until the debt and the reserve have both refilled.
func testBulkBehindBooking(t *testing.T, h Harness) {
	rate := govern.Limit{Rate: 1, Period: time.Hour, Burst: 5} // reserve 1, bulk 4
	g, clk := bulkGovernor(t, h, h.New(t), govern.Policy{Rate: rate, MaxWait: 2 * time.Hour}, "k1")
	ctx := t.Context()
	for range 6 { // the burst, then one booked an interval ahead
		_, err := g.Acquire(ctx, "se", "prod")
		require.NoError(t, err)
	}
	require.EqualValues(t, 1, clk.afters.Load(), "the sixth booked its unit")
	_, err := g.AcquireBulk(ctx, "se", "prod")
	le := requireBulkLimited(t, err, "rate")
	// TAT is now+6h; bulk's burst of 4 needs TAT ≤ now+3h.
	require.InDelta(t, 3*time.Hour, le.RetryAfter, float64(time.Minute))
	require.EqualValues(t, 1, clk.afters.Load(), "bulk did not wait")
}

// testBulkConcurrent: bulk callers racing over two replicas take exactly
// the burst less the reserve between them; the reserve is still there.
func testBulkConcurrent(t *testing.T, h Harness) {
	a, b := h.pair(t)
	p := govern.Policy{Rate: govern.Limit{Rate: 1, Period: time.Hour, Burst: 10}, MaxWait: time.Hour}
	ga, clk := bulkGovernor(t, h, a, p, "k1")
	clk2 := &countingClock{now: h.now}
	gb, err := govern.New(govern.Options{State: b, Clock: clk2, InteractiveShare: 0.2},
		[]govern.Policy{{Provider: "se", Keys: ga.Keys("se"), Rate: p.Rate, MaxWait: p.MaxWait}}, nil)
	require.NoError(t, err)
	var leased atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, 40)
	for i := range 40 {
		g := ga
		if i%2 == 1 {
			g = gb
		}
		wg.Go(func() {
			<-start
			_, err := g.AcquireBulk(t.Context(), "se", "prod")
			var le *govern.LimitedError
			switch {
			case err == nil:
				leased.Add(1)
			case errors.As(err, &le):
			default:
				errs <- err
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.EqualValues(t, 8, leased.Load(), "exactly (1 - share) of the burst across replicas")
	for _, g := range []*govern.Governor{ga, gb} {
		_, err := g.Acquire(t.Context(), "se", "prod")
		require.NoError(t, err)
	}
	require.Zero(t, clk.afters.Load()+clk2.afters.Load(), "nobody waited")
}

// testBulkPaused: bulk work passes a paused key over for the next one of
// the environment, and with every key paused is refused until the first
// pause ends.
func testBulkPaused(t *testing.T, h Harness) {
	rate := govern.Limit{Rate: 1, Period: time.Hour, Burst: 10}
	g, clk := bulkGovernor(t, h, h.New(t), govern.Policy{Rate: rate, MaxWait: time.Hour}, "k1", "k2")
	ctx := t.Context()
	first, err := g.AcquireBulk(ctx, "se", "prod")
	require.NoError(t, err)
	require.NoError(t, g.Pause(ctx, first, 30*time.Minute))
	second, err := g.AcquireBulk(ctx, "se", "prod")
	require.NoError(t, err)
	require.NotEqual(t, first.KeyID, second.KeyID, "the backup key, while the primary is paused")
	require.NoError(t, g.Pause(ctx, second, 40*time.Minute))
	_, err = g.AcquireBulk(ctx, "se", "prod")
	le := requireBulkLimited(t, err, "paused")
	require.InDelta(t, 30*time.Minute, le.RetryAfter, float64(time.Minute), "until the first pause ends")
	require.Zero(t, clk.afters.Load())
}

// testBulkRetryAfter (fake clock): the RetryAfter of a bulk refusal is
// exactly when the next bulk unit is there.
func testBulkRetryAfter(t *testing.T, h Harness) {
	rate := govern.Limit{Rate: 10, Period: time.Second, Burst: 10} // 100ms interval; bulk burst 8
	g, clk := bulkGovernor(t, h, h.New(t), govern.Policy{Rate: rate}, "k1")
	ctx := t.Context()
	for range 8 {
		_, err := g.AcquireBulk(ctx, "se", "prod")
		require.NoError(t, err)
	}
	h.Advance(30 * time.Millisecond)
	_, err := g.AcquireBulk(ctx, "se", "prod")
	le := requireBulkLimited(t, err, "rate")
	require.Equal(t, 70*time.Millisecond, le.RetryAfter)
	h.Advance(le.RetryAfter)
	_, err = g.AcquireBulk(ctx, "se", "prod")
	require.NoError(t, err, "due exactly then")
	_, err = g.AcquireBulk(ctx, "se", "prod")
	require.Equal(t, 100*time.Millisecond, requireBulkLimited(t, err, "rate").RetryAfter, "and one interval later again")
	require.Zero(t, clk.afters.Load())
}
