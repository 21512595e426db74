package resilience

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/clock"
)

// The open period runs on BreakerSettings.Clock, so those tests move a fake
// clock. gobreaker's rolling window still ages on the wall clock (it takes
// no clock): TestBreakerWindowRolls uses a short Window and polls with a
// deadline (require.Eventually); no test sleeps.

// transitions records OnStateChange calls.
type transitions struct {
	mu   sync.Mutex
	seen []string
}

func (tr *transitions) record(from, to string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.seen = append(tr.seen, from+"→"+to)
}

func (tr *transitions) list() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.seen...)
}

// attempt runs one attempt through b with the given outcome.
func attempt(t *testing.T, b *Breaker, success bool) {
	t.Helper()
	done, err := allow(b)
	require.NoError(t, err)
	done(success)
}

func TestBreakerTripsOnRatioAfterMinRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		outcomes []bool // in order
		want     string
	}{
		{"all failures below min requests", []bool{false, false, false}, StateClosed},
		{"ratio reached at min requests", []bool{true, true, false, false}, StateOpen},
		{"ratio below threshold", []bool{true, true, true, false, false}, StateClosed},
		{"successes only", []bool{true, true, true, true, true, true}, StateClosed},
		{"trips as soon as the ratio holds", []bool{false, false, false, false}, StateOpen},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := NewBreaker("p", BreakerSettings{FailureRatio: 0.5, MinRequests: 4, Window: time.Hour, OpenFor: time.Hour})
			for _, ok := range tc.outcomes {
				if b.State() == StateOpen {
					break
				}
				attempt(t, b, ok)
			}
			require.Equal(t, tc.want, b.State())
		})
	}
}

func TestBreakerOpenFailsFastWithRetryAfter(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	b := NewBreaker("socialeye", BreakerSettings{FailureRatio: 1, MinRequests: 1, Window: time.Hour,
		OpenFor: time.Hour, Clock: clk})
	attempt(t, b, false)
	require.Equal(t, StateOpen, b.State())

	clk.Advance(20 * time.Minute)
	done, err := allow(b)
	require.Nil(t, done)
	require.ErrorIs(t, err, ErrOpen)
	var oe *OpenError
	require.ErrorAs(t, err, &oe)
	require.Equal(t, "socialeye", oe.Name)
	require.False(t, oe.HalfOpen)
	require.Equal(t, 40*time.Minute, oe.RetryAfter, "the rest of OpenFor on the breaker's clock")
	require.Contains(t, err.Error(), `circuit breaker "socialeye" is open`)
}

// TestBreakerLifecycle: closed → open → half-open (probes limited) → closed,
// and a failed probe reopens; the open period is measured on the fake clock.
func TestBreakerLifecycle(t *testing.T) {
	t.Parallel()
	tr := &transitions{}
	clk := newFakeClock()
	const openFor = 30 * time.Second
	b := NewBreaker("p", BreakerSettings{FailureRatio: 0.5, MinRequests: 2, Window: time.Hour,
		OpenFor: openFor, HalfOpenRequests: 2, OnStateChange: tr.record, Clock: clk})
	waitHalfOpen := func() {
		t.Helper()
		clk.Advance(openFor - time.Nanosecond)
		require.Equal(t, StateOpen, b.State(), "a nanosecond before OpenFor has passed")
		_, err := allow(b)
		var oe *OpenError
		require.ErrorAs(t, err, &oe)
		require.Equal(t, time.Nanosecond, oe.RetryAfter)
		clk.Advance(time.Nanosecond)
		require.Equal(t, StateHalfOpen, b.State(), "OpenFor has passed on the clock")
	}

	attempt(t, b, false)
	attempt(t, b, false)
	require.Equal(t, StateOpen, b.State())
	waitHalfOpen()

	// Two probes may be in flight; a third is refused as half-open.
	p1, err := allow(b)
	require.NoError(t, err)
	p2, err := allow(b)
	require.NoError(t, err)
	_, err = allow(b)
	var oe *OpenError
	require.ErrorAs(t, err, &oe)
	require.True(t, oe.HalfOpen)
	require.Equal(t, time.Second, oe.RetryAfter)

	// One failed probe reopens, for a whole OpenFor from now.
	p1(false)
	p2(true) // reported after the reopen: ignored by the new generation
	require.Equal(t, StateOpen, b.State())
	waitHalfOpen()

	// Two successful probes close it.
	p1, err = allow(b)
	require.NoError(t, err)
	p2, err = allow(b)
	require.NoError(t, err)
	p1(true)
	require.Equal(t, StateHalfOpen, b.State())
	p2(true)
	require.Equal(t, StateClosed, b.State())

	require.Equal(t, []string{
		"closed→open", "open→half-open", "half-open→open", "open→half-open", "half-open→closed",
	}, tr.list())
}

// TestBreakerStaleOutcomeKeepsItOpen: an attempt let through before the
// breaker opened and reported during the open period makes gobreaker look
// at its own (wall) clock, by which its open period is long over. The
// breaker must stay open for OpenFor on its clock all the same, and say
// open→half-open once, when that period ends.
func TestBreakerStaleOutcomeKeepsItOpen(t *testing.T) {
	t.Parallel()
	tr := &transitions{}
	clk := newFakeClock()
	b := NewBreaker("p", BreakerSettings{FailureRatio: 0.5, MinRequests: 2, Window: time.Hour,
		OpenFor: time.Minute, OnStateChange: tr.record, Clock: clk})
	late, err := allow(b)
	require.NoError(t, err)
	attempt(t, b, false)
	attempt(t, b, false)
	require.Equal(t, StateOpen, b.State())

	for _, ok := range []bool{false, true} {
		late(ok) // the once guard makes the second call a no-op
	}
	for _, success := range []bool{true, false} {
		_, err := allow(b)
		require.ErrorIs(t, err, ErrOpen, "still inside OpenFor (success=%v)", success)
	}
	require.Equal(t, StateOpen, b.State())
	require.Equal(t, []string{"closed→open"}, tr.list(), "nothing announced early")

	clk.Advance(time.Minute)
	require.Equal(t, StateHalfOpen, b.State())
	probe, err := allow(b)
	require.NoError(t, err)
	probe(true)
	require.Equal(t, StateClosed, b.State())
	require.Equal(t, []string{"closed→open", "open→half-open", "half-open→closed"}, tr.list())
}

// TestBreakerIgnoredProbeFreesItsSlot: a probe whose caller went away must
// not leave the breaker half-open with no slot left, forever.
func TestBreakerIgnoredProbeFreesItsSlot(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	b := NewBreaker("p", BreakerSettings{FailureRatio: 1, MinRequests: 1, Window: time.Hour,
		OpenFor: time.Minute, Clock: clk})
	attempt(t, b, false)
	clk.Advance(time.Minute)
	require.Equal(t, StateHalfOpen, b.State())

	probe, err := b.AllowOutcome()
	require.NoError(t, err)
	_, err = b.AllowOutcome()
	require.ErrorIs(t, err, ErrOpen, "the only probe slot is taken")
	probe(Ignored)
	require.Equal(t, StateHalfOpen, b.State())

	probe, err = b.AllowOutcome()
	require.NoError(t, err, "the ignored probe gave its slot back")
	probe(Success)
	require.Equal(t, StateClosed, b.State())
}

// TestBreakerIgnoredOutcomesDoNotTrip: cancellations and 429s in a burst do
// not open the breaker, and a done reported twice counts once.
func TestBreakerIgnoredOutcomesDoNotTrip(t *testing.T) {
	t.Parallel()
	b := NewBreaker("p", BreakerSettings{FailureRatio: 0.5, MinRequests: 2, Window: time.Hour, OpenFor: time.Hour})
	for range 10 {
		done, err := b.AllowOutcome()
		require.NoError(t, err)
		done(Ignored)
	}
	require.Equal(t, StateClosed, b.State())

	attempt(t, b, true)
	done, err := allow(b)
	require.NoError(t, err)
	done(false)
	require.Equal(t, StateOpen, b.State(), "1 of 2 failed: ratio 0.5 reached")

	b2 := NewBreaker("p", BreakerSettings{FailureRatio: 0.5, MinRequests: 2, Window: time.Hour, OpenFor: time.Hour})
	done, err = allow(b2)
	require.NoError(t, err)
	done(false)
	done(false) // a second report is ignored
	require.Equal(t, StateClosed, b2.State(), "one failure is below min requests")
}

// TestBreakerWindowRolls: failures older than the window stop counting.
func TestBreakerWindowRolls(t *testing.T) {
	t.Parallel()
	b := NewBreaker("p", BreakerSettings{FailureRatio: 0.5, MinRequests: 4, Window: 50 * time.Millisecond, OpenFor: time.Hour})
	for range 3 {
		attempt(t, b, false)
	}
	require.Equal(t, uint32(3), b.cb.Counts().TotalFailures)
	require.Eventually(t, func() bool {
		_ = b.State() // rolls the buckets forward
		return b.cb.Counts().TotalFailures == 0
	}, 5*time.Second, time.Millisecond)

	// Had the old failures still counted, this fourth one would trip it.
	attempt(t, b, false)
	require.Equal(t, StateClosed, b.State())
}

func TestBreakerDefaults(t *testing.T) {
	t.Parallel()
	s := BreakerSettings{FailureRatio: 7, MinRequests: -1}.withDefaults()
	require.Equal(t, BreakerSettings{FailureRatio: DefaultFailureRatio, MinRequests: DefaultMinRequests,
		Window: DefaultWindow, OpenFor: DefaultOpenFor, HalfOpenRequests: DefaultHalfOpenRequests,
		Clock: clock.System{}}, s)

	b := NewBreaker("p", BreakerSettings{})
	require.Equal(t, "p", b.Name())
	for range DefaultMinRequests - 1 {
		attempt(t, b, false)
	}
	require.Equal(t, StateClosed, b.State(), "below the default minimum")
	attempt(t, b, false)
	require.Equal(t, StateOpen, b.State())
}

// allow is AllowOutcome with a success/failure outcome, as most tests need.
func allow(b *Breaker) (func(success bool), error) {
	report, err := b.AllowOutcome()
	if err != nil {
		return nil, err
	}
	return func(success bool) {
		if success {
			report(Success)
		} else {
			report(Failure)
		}
	}, nil
}
