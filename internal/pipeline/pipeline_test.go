package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/govern/memory"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/leak"
	"github.com/intelgate/intelgate/internal/logtest"
	"github.com/intelgate/intelgate/internal/provider"
	"github.com/intelgate/intelgate/internal/resilience"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/upstream"
)

// scripted is a provider whose answers come from a queue of errors (nil is
// success); it records which key each call used.
type scripted struct {
	mu      sync.Mutex
	answers []error
	keys    []string
	calls   atomic.Int32
	gate    chan struct{} // when set, each call waits for it
}

func (s *scripted) Name() string                 { return "se" }
func (s *scripted) Supports(indicator.Type) bool { return true }
func (s *scripted) Lookup(ctx context.Context, req provider.Request, key secret.Value) (provider.Result, error) {
	s.calls.Add(1)
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return provider.Result{}, ctx.Err()
		}
	}
	s.mu.Lock()
	s.keys = append(s.keys, key.Reveal())
	var err error
	if len(s.answers) > 0 {
		err, s.answers = s.answers[0], s.answers[1:]
	}
	s.mu.Unlock()
	if err != nil {
		return provider.Result{}, err
	}
	return provider.Result{Data: json.RawMessage(`{"ok":true}`)}, nil
}

type fixture struct {
	p     *Pipeline
	prov  *scripted
	gov   *govern.Governor
	clock *clocktest.Clock
	log   *logtest.Buffer
}

type fixtureOptions struct {
	answers     []error
	keys        int
	maxAttempts int
	budget      *resilience.Budget
	maxWait     time.Duration
	day         int64
	breaker     resilience.BreakerSettings
	check       *scriptedCheck // nil: no auth check
	revokeOn    []int
	leaks       *leak.Detector
	rate        govern.Limit
	share       float64                 // the governor's InteractiveShare
	wrap        func(Governor) Governor // when set, the pipeline's governor is wrap(gov)
}

func newFixture(t *testing.T, o fixtureOptions) *fixture {
	t.Helper()
	// Far in the future: deadlines derived from this clock must never expire
	// in real time, which contexts also check.
	clock := clocktest.New(time.Date(2099, 11, 27, 10, 0, 0, 0, time.UTC))
	if o.keys == 0 {
		o.keys = 1
	}
	var keys []govern.Key
	for i := range o.keys {
		id := string(rune('a' + i))
		keys = append(keys, govern.Key{ID: "k" + id, Environment: "prod", Value: secret.NewValue("secret-" + id)})
	}
	gov, err := govern.New(govern.Options{State: memory.New(memory.Options{Clock: clock}), Clock: clock, InteractiveShare: o.share},
		[]govern.Policy{{Provider: "se", Keys: keys, MaxWait: o.maxWait, Day: o.day, Rate: o.rate}}, nil)
	require.NoError(t, err)
	if o.maxAttempts == 0 {
		o.maxAttempts = 3
	}
	if o.budget == nil {
		o.budget = resilience.NewBudget(1, 100, clock)
	}
	logger, logs := logtest.JSONLogger()
	prov := &scripted{answers: o.answers}
	var pg Governor = gov
	if o.wrap != nil {
		pg = o.wrap(gov)
	}
	opts := Options{
		Provider: prov, Governor: pg, Breaker: resilience.NewBreaker("se", o.breaker),
		Retry:  resilience.Policy{MaxAttempts: o.maxAttempts, Base: 100 * time.Millisecond, Cap: time.Second, Rand: func() float64 { return 0.5 }},
		Budget: o.budget, MaxPause: 30 * time.Second, Clock: clock,
		Log: logger, RevokeOn: o.revokeOn, Leaks: o.leaks,
	}
	if o.check != nil {
		opts.Check = o.check
	}
	p, err := New(opts)
	require.NoError(t, err)
	return &fixture{p: p, prov: prov, gov: gov, clock: clock, log: logs}
}

var req = provider.Request{Indicator: indicator.Indicator{Raw: "x", Value: "x", Type: indicator.Username}}

func upErr(kind upstream.Kind, status int, retryAfter time.Duration) error {
	return &upstream.Error{Kind: kind, Status: status, RetryAfter: retryAfter, Detail: string(kind)}
}

func TestRetriesOnlyWhereARetryCanHelp(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		answers   []error
		wantCalls int32
		wantErr   upstream.Kind
	}{
		{"success", nil, 1, ""},
		{"503 then success", []error{upErr(upstream.KindUpstream, 503, 0)}, 2, ""},
		{"timeouts exhaust attempts", []error{upErr(upstream.KindTimeout, 0, 0), upErr(upstream.KindTimeout, 0, 0), upErr(upstream.KindTimeout, 0, 0)}, 3, upstream.KindTimeout},
		{"connect then success", []error{upErr(upstream.KindConnect, 0, 0)}, 2, ""},
		{"400 never retried", []error{upErr(upstream.KindRejected, 400, 0)}, 1, upstream.KindRejected},
		{"500 is not retried", []error{upErr(upstream.KindUpstream, 500, 0)}, 1, upstream.KindUpstream},
		{"malformed never retried", []error{upErr(upstream.KindMalformed, 200, 0)}, 1, upstream.KindMalformed},
		{"tls never retried", []error{upErr(upstream.KindTLS, 0, 0)}, 1, upstream.KindTLS},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fixtureOptions{answers: tc.answers})
			_, err := f.p.Lookup(context.Background(), "prod", req)
			require.Equal(t, tc.wantCalls, f.prov.calls.Load())
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			var ue *upstream.Error
			require.True(t, errors.As(err, &ue), "%v", err)
			require.Equal(t, tc.wantErr, ue.Kind)
		})
	}
}

func TestRetryBudgetStopsRetries(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{answers: []error{upErr(upstream.KindUpstream, 503, 0)},
		budget: resilience.NewBudget(0, 0, nil)})
	_, err := f.p.Lookup(context.Background(), "prod", req)
	require.Error(t, err)
	require.Equal(t, int32(1), f.prov.calls.Load(), "an empty budget allows no retry")
}

func TestBackoffNeverOutlastsTheDeadline(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{answers: []error{upErr(upstream.KindUpstream, 502, 0)}})
	ctx, cancel := context.WithDeadline(context.Background(), f.clock.Now().Add(10*time.Millisecond))
	defer cancel()
	_, err := f.p.Lookup(ctx, "prod", req)
	require.Error(t, err)
	require.Equal(t, int32(1), f.prov.calls.Load())
}

func TestRefusedKeyConfirmedByTheCheckFailsOverAndIsRevoked(t *testing.T) {
	t.Parallel()
	check := &scriptedCheck{answers: []error{upErr(upstream.KindAuth, 401, 0)}}
	f := newFixture(t, fixtureOptions{keys: 2, maxAttempts: 1, check: check,
		answers: []error{upErr(upstream.KindAuth, 401, 0)}})
	out, err := f.p.Lookup(context.Background(), "prod", clientReq("siem"))
	res := out.Result
	require.NoError(t, err, "failover to the second key is not a retry")
	require.JSONEq(t, `{"ok":true}`, string(res.Data))
	require.Equal(t, []string{"secret-a", "secret-b"}, f.prov.keys)
	require.Equal(t, []string{"secret-a"}, check.keys, "the check used the refused key")
	logs := f.log.String()
	for _, want := range []string{`"event":"upstream_key_suspect"`, `"event":"upstream_key_revoked"`, `"key_id":"ka"`, `"client":"siem"`} {
		require.Contains(t, logs, want)
	}
	require.NotContains(t, logs, "secret-a")

	st, err := f.gov.ProviderStatus(context.Background(), "se", "prod")
	require.NoError(t, err)
	require.True(t, st[0].Revoked)
	require.False(t, st[1].Revoked)

	// Both refused and confirmed: a clear "no usable key".
	check2 := &scriptedCheck{answers: []error{upErr(upstream.KindAuth, 401, 0), upErr(upstream.KindAuth, 403, 0)}}
	f2 := newFixture(t, fixtureOptions{keys: 2, check: check2,
		answers: []error{upErr(upstream.KindAuth, 401, 0), upErr(upstream.KindAuth, 401, 0)}})
	_, err = f2.p.Lookup(context.Background(), "prod", req)
	require.ErrorIs(t, err, govern.ErrNoKeys)
}

func TestUpstream429PausesTheKeyForEveryone(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{maxWait: 5 * time.Second, answers: []error{upErr(upstream.KindRateLimited, 429, 2*time.Second)}})
	start := f.clock.Now()
	_, err := f.p.Lookup(context.Background(), "prod", req)
	require.NoError(t, err)
	require.Equal(t, int32(2), f.prov.calls.Load())
	require.Equal(t, start.Add(2*time.Second), f.clock.Now(), "the retry waited exactly the upstream's Retry-After")

	// A pause longer than max_wait is answered with an honest, capped wait.
	f = newFixture(t, fixtureOptions{maxWait: time.Second, answers: []error{upErr(upstream.KindRateLimited, 429, 1e6*time.Second)}})
	_, err = f.p.Lookup(context.Background(), "prod", req)
	var le *govern.LimitedError
	require.True(t, errors.As(err, &le), "%v", err)
	require.Equal(t, "paused", le.Reason)
	require.Equal(t, 30*time.Second, le.RetryAfter, "a huge Retry-After is capped at retry.max_wait")
	require.Equal(t, int32(1), f.prov.calls.Load())
}

func TestCoalescesIdenticalConcurrentLookups(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	f.prov.gate = make(chan struct{})
	const n = 20
	var wg sync.WaitGroup
	var sharedCount atomic.Int32
	errs := make(chan error, n) // checked on the test goroutine
	for range n {
		wg.Go(func() {
			out, err := f.p.Lookup(context.Background(), "prod", req)
			shared := out.Shared
			errs <- err
			if shared {
				sharedCount.Add(1)
			}
		})
	}
	require.Eventually(t, func() bool { return f.p.coalescer.Waiters(coalesceKey("prod", req)) == n },
		5*time.Second, time.Millisecond, "every caller joined the one in-flight call")
	close(f.prov.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, int32(1), f.prov.calls.Load())
	require.Equal(t, int32(n-1), sharedCount.Load())

	// A different indicator is its own upstream call.
	other := req
	other.Indicator.Value = "y"
	out, err := f.p.Lookup(context.Background(), "prod", other)
	shared := out.Shared
	require.NoError(t, err)
	require.False(t, shared)
}

func TestOpenBreakerFailsFastAndRefundsQuota(t *testing.T) {
	t.Parallel()
	fail := upErr(upstream.KindUpstream, 500, 0)
	f := newFixture(t, fixtureOptions{day: 100, maxAttempts: 1, answers: []error{fail, fail, fail},
		breaker: resilience.BreakerSettings{FailureRatio: 0.5, MinRequests: 3, Window: time.Minute, OpenFor: time.Minute}})
	for range 3 {
		_, err := f.p.Lookup(context.Background(), "prod", req)
		require.Error(t, err)
	}
	_, err := f.p.Lookup(context.Background(), "prod", req)
	require.ErrorIs(t, err, resilience.ErrOpen)
	var oe *resilience.OpenError
	require.True(t, errors.As(err, &oe))
	require.Positive(t, oe.RetryAfter)
	require.Equal(t, int32(3), f.prov.calls.Load(), "an open breaker sends nothing upstream")

	st, err := f.gov.ProviderStatus(context.Background(), "se", "prod")
	require.NoError(t, err)
	require.Equal(t, int64(3), st[0].Day.Used, "the refused call's quota unit was refunded")
}

func TestUnsafeIndicatorRefundsQuota(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{day: 5, answers: []error{provider.ErrUnsafeIndicator}})
	_, err := f.p.Lookup(context.Background(), "prod", req)
	require.ErrorIs(t, err, provider.ErrUnsafeIndicator)
	st, err := f.gov.ProviderStatus(context.Background(), "se", "prod")
	require.NoError(t, err)
	require.Equal(t, int64(0), st[0].Day.Used)
}

// placing refuses the indicator "../x" before anything is sent, as the
// http provider does for a path template.
type placing struct{ scripted }

func (p *placing) CheckRequest(r provider.Request) error {
	if r.Indicator.Value == "../x" {
		return &provider.UnsafeIndicatorError{Reason: "contains '/', a path separator"}
	}
	return nil
}

// An indicator the provider cannot place is refused before the breaker and
// the governor: it takes no unit of rate (with 1/min, the next lookup is
// still served at once), no quota and never reaches the provider.
func TestUnplaceableIndicatorCostsNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{day: 5, rate: govern.Limit{Rate: 1, Period: time.Minute, Burst: 1}})
	prov := &placing{}
	f.p.o.Provider, f.p.placer = prov, prov
	bad := provider.Request{Indicator: indicator.Indicator{Raw: "../x", Value: "../x", Type: indicator.Username}}
	for range 3 {
		_, err := f.p.Lookup(context.Background(), "prod", bad)
		require.ErrorIs(t, err, provider.ErrUnsafeIndicator)
	}
	require.Zero(t, prov.calls.Load())
	start := f.clock.Now()
	_, err := f.p.Lookup(context.Background(), "prod", req)
	require.NoError(t, err)
	require.Equal(t, start, f.clock.Now(), "the refused lookups took no unit of rate: no wait")
	st, err := f.gov.ProviderStatus(context.Background(), "se", "prod")
	require.NoError(t, err)
	require.Equal(t, int64(1), st[0].Day.Used)
}

func TestAttemptsThatNeverLeftSpendNoQuota(t *testing.T) {
	t.Parallel()
	refused := &upstream.Error{Kind: upstream.KindConnect, NotSent: true, Detail: "connection refused"}
	f := newFixture(t, fixtureOptions{day: 10, answers: []error{refused, refused, refused}})
	_, err := f.p.Lookup(context.Background(), "prod", req)
	require.Error(t, err)
	require.Equal(t, int32(3), f.prov.calls.Load(), "a refused connection is retried")
	st, err := f.gov.ProviderStatus(context.Background(), "se", "prod")
	require.NoError(t, err)
	require.Zero(t, st[0].Day.Used, "no attempt reached the upstream, so no quota was spent")
}

func TestPanickingProviderDoesNotLeakAHalfOpenProbe(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{maxAttempts: 1,
		breaker: resilience.BreakerSettings{FailureRatio: 0.5, MinRequests: 1, Window: time.Minute, OpenFor: time.Minute, HalfOpenRequests: 1}})
	boom := &panicky{}
	f.p.o.Provider = boom
	for range 3 {
		_, err := f.p.Lookup(context.Background(), "prod", req)
		var pe *resilience.PanicError
		require.True(t, errors.As(err, &pe), "%v", err)
	}
	require.Equal(t, resilience.StateClosed, f.p.o.Breaker.State(), "a panic is no verdict on the upstream, and frees its slot")
}

type panicky struct{ scripted }

func (p *panicky) Lookup(context.Context, provider.Request, secret.Value) (provider.Result, error) {
	panic("provider bug")
}

func TestProactivePauseFollowsTheResetLength(t *testing.T) {
	t.Parallel()
	cases := []struct {
		hint, want time.Duration
	}{
		{time.Second, 20 * time.Millisecond}, // bucket refill at the configured pace: one interval
		{time.Hour, 30 * time.Second},        // a real exhaustion: honoured, capped by MaxPause
		{1500 * time.Millisecond, 20 * time.Millisecond},
	}
	for _, tc := range cases {
		f := newFixture(t, fixtureOptions{})
		f.p.o.Rate = govern.Limit{Rate: 50, Period: time.Second, Burst: 50} // 20ms apart, full in 1s
		rec := &pauseRecorder{Governor: f.p.o.Governor}
		f.p.o.Governor = rec
		f.p.proactivePause(context.Background(), &govern.Lease{Provider: "se", KeyID: "ka"}, tc.hint)
		require.Equal(t, tc.want, rec.last, "hint %s", tc.hint)
	}
}

type pauseRecorder struct {
	Governor
	last time.Duration
}

func (r *pauseRecorder) Pause(_ context.Context, _ *govern.Lease, d time.Duration) error {
	r.last = d
	return nil
}
