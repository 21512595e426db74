package pipeline

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/observe"
	"github.com/intelgate/intelgate/internal/observe/observetest"
	"github.com/intelgate/intelgate/internal/upstream"
)

// hourly10 refills one unit an hour, so nothing refills while a test runs;
// with a share of 0.2, bulk work may take 8 of its 10.
var hourly10 = govern.Limit{Rate: 1, Period: time.Hour, Burst: 10}

func requireLimited(t *testing.T, err error, reason string) *govern.LimitedError {
	t.Helper()
	var le *govern.LimitedError
	require.True(t, errors.As(err, &le), "want *govern.LimitedError, got %v", err)
	require.Equal(t, reason, le.Reason)
	require.Positive(t, le.RetryAfter)
	return le
}

func TestBulkStopsShortOfTheReserveAtOnce(t *testing.T) {
	t.Parallel()
	rec := &observetest.Recorder{}
	f := newFixture(t, fixtureOptions{rate: hourly10, share: 0.2, maxWait: 3 * time.Hour})
	f.p.o.Observer = rec
	start := f.clock.Now()
	for i := range 8 {
		other := req
		other.Indicator.Value = string(rune('a' + i))
		_, err := f.p.LookupAt(context.Background(), "prod", Bulk, other)
		require.NoError(t, err)
	}
	out, err := f.p.LookupAt(context.Background(), "prod", Bulk, req)
	le := requireLimited(t, err, "rate")
	require.Equal(t, time.Hour, le.RetryAfter, "one interval until a unit beyond the reserve")
	require.Zero(t, out.Attempts, "nothing went upstream")
	require.Equal(t, start, f.clock.Now(), "bulk never waited")
	require.Equal(t, int32(8), f.prov.calls.Load())

	for range 2 { // the reserve is there for interactive callers, without waiting
		_, err := f.p.Lookup(context.Background(), "prod", req)
		require.NoError(t, err)
	}
	require.Equal(t, start, f.clock.Now())
	var outcomes []string
	for _, e := range rec.Events() {
		if w, ok := e.(observe.GovernorWaited); ok {
			outcomes = append(outcomes, w.Outcome)
		}
	}
	require.Equal(t, []string{"acquired", "acquired", "acquired", "acquired", "acquired", "acquired", "acquired", "acquired",
		"rate", "acquired", "acquired"}, outcomes, "every acquisition is observed, bulk ones too")
}

// gatedBulk holds every AcquireBulk until release is closed, so a test can
// have callers join a bulk call before the governor answers it.
type gatedBulk struct {
	Governor
	release chan struct{}
}

func (g gatedBulk) AcquireBulk(ctx context.Context, provider, env string) (*govern.Lease, error) {
	<-g.release
	return g.Governor.AcquireBulk(ctx, provider, env)
}

// An interactive caller that joined a bulk call the governor refused (only
// the reserve was left) asks again at its own priority and gets its answer;
// the bulk caller gets the refusal.
func TestInteractiveJoiningARefusedBulkCallAsksAgain(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	f := newFixture(t, fixtureOptions{rate: govern.Limit{Rate: 1, Period: time.Hour, Burst: 5}, share: 0.2,
		wrap: func(g Governor) Governor { return gatedBulk{Governor: g, release: release} }})
	for range 4 { // bulk's share of the burst: only the reserve of 1 is left
		_, err := f.gov.AcquireBulk(context.Background(), "se", "prod")
		require.NoError(t, err)
	}
	bulkErr := make(chan error, 1)
	go func() {
		_, err := f.p.LookupAt(context.Background(), "prod", Bulk, req)
		bulkErr <- err
	}()
	require.Eventually(t, func() bool { return f.p.Waiters("prod", req) == 1 }, 5*time.Second, time.Millisecond)
	interactive := make(chan Outcome, 1)
	interactiveErr := make(chan error, 1)
	go func() {
		out, err := f.p.Lookup(context.Background(), "prod", req)
		interactive <- out
		interactiveErr <- err
	}()
	require.Eventually(t, func() bool { return f.p.Waiters("prod", req) == 2 }, 5*time.Second, time.Millisecond,
		"the interactive caller joined the bulk call")
	close(release)

	requireLimited(t, <-bulkErr, "rate")
	require.NoError(t, <-interactiveErr, "the interactive caller did not inherit bulk's refusal")
	out := <-interactive
	require.False(t, out.Shared, "it made its own call")
	require.Equal(t, 1, out.Attempts)
	require.Equal(t, int32(1), f.prov.calls.Load())
}

// A bulk caller that joins an interactive call shares its answer and spends
// nothing.
func TestBulkJoiningAnInteractiveCallSharesIt(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{rate: govern.Limit{Rate: 1, Period: time.Hour, Burst: 5}, share: 0.2})
	f.prov.gate = make(chan struct{})
	first := make(chan error, 1)
	go func() {
		_, err := f.p.Lookup(context.Background(), "prod", req)
		first <- err
	}()
	require.Eventually(t, func() bool { return f.prov.calls.Load() == 1 }, 5*time.Second, time.Millisecond)
	bulk := make(chan Outcome, 1)
	go func() {
		out, _ := f.p.LookupAt(context.Background(), "prod", Bulk, req)
		bulk <- out
	}()
	require.Eventually(t, func() bool { return f.p.Waiters("prod", req) == 2 }, 5*time.Second, time.Millisecond)
	close(f.prov.gate)
	require.NoError(t, <-first)
	out := <-bulk
	require.True(t, out.Shared)
	require.Zero(t, out.Units)
	require.Equal(t, int32(1), f.prov.calls.Load())
	st, err := f.gov.ProviderStatus(context.Background(), "se", "prod")
	require.NoError(t, err)
	require.Equal(t, 4, st[0].Rate.Remaining, "one unit of the five spent, for the interactive call")
}

// A 429 pauses the key; a bulk retry inside the same lookup is then refused
// at once rather than waiting for the pause to end.
func TestBulkDoesNotWaitOutAPause(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{rate: hourly10, share: 0.2, maxWait: time.Hour,
		answers: []error{upErr(upstream.KindRateLimited, 429, 10*time.Second)}})
	start := f.clock.Now()
	_, err := f.p.LookupAt(context.Background(), "prod", Bulk, req)
	le := requireLimited(t, err, "paused")
	require.Equal(t, 10*time.Second, le.RetryAfter)
	require.Equal(t, start, f.clock.Now(), "no wait for the pause")
	require.Equal(t, int32(1), f.prov.calls.Load())
}
