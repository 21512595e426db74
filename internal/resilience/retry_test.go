package resilience

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/upstream"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	const maxDur = time.Duration(math.MaxInt64)
	fixed := func(r float64) func() float64 { return func() float64 { return r } }
	tests := []struct {
		name    string
		p       Policy
		attempt int
		want    time.Duration
	}{
		{"first retry, top of range", Policy{Base: 100 * time.Millisecond, Cap: time.Second, Rand: fixed(0.999999)}, 0, 99999900 * time.Nanosecond},
		{"half of base", Policy{Base: 100 * time.Millisecond, Cap: time.Second, Rand: fixed(0.5)}, 0, 50 * time.Millisecond},
		{"doubles", Policy{Base: 100 * time.Millisecond, Cap: time.Second, Rand: fixed(0.5)}, 2, 200 * time.Millisecond},
		{"capped", Policy{Base: 100 * time.Millisecond, Cap: time.Second, Rand: fixed(0.5)}, 10, 500 * time.Millisecond},
		{"zero jitter", Policy{Base: time.Second, Cap: time.Minute, Rand: fixed(0)}, 3, 0},
		{"huge attempt does not overflow", Policy{Base: time.Second, Cap: time.Minute, Rand: fixed(0.5)}, math.MaxInt, 30 * time.Second},
		{"no cap saturates", Policy{Base: time.Second, Rand: fixed(0.5)}, 1000, maxDur / 2},
		{"no cap, rand 1 stays in range", Policy{Base: time.Second, Rand: fixed(1)}, 1000, maxDur - 1},
		{"rand 1 clamps below ceiling", Policy{Base: time.Second, Cap: time.Minute, Rand: fixed(1)}, 0, time.Second - 1},
		{"rand above 1 clamps", Policy{Base: time.Second, Cap: time.Minute, Rand: fixed(7)}, 0, time.Second - 1},
		{"negative rand clamps to 0", Policy{Base: time.Second, Cap: time.Minute, Rand: fixed(-1)}, 0, 0},
		{"NaN rand clamps to 0", Policy{Base: time.Second, Cap: time.Minute, Rand: fixed(math.NaN())}, 0, 0},
		{"negative attempt is the first", Policy{Base: time.Second, Cap: time.Minute, Rand: fixed(0.5)}, -3, 500 * time.Millisecond},
		{"base above cap", Policy{Base: time.Hour, Cap: time.Minute, Rand: fixed(0.5)}, 0, 30 * time.Second},
		{"zero base", Policy{Cap: time.Minute, Rand: fixed(0.5)}, 4, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := tc.p.Backoff(tc.attempt)
			require.InDelta(t, float64(tc.want), float64(got), float64(time.Microsecond), "got %s", got)
			require.GreaterOrEqual(t, got, time.Duration(0))
		})
	}
}

func TestBackoffDefaultRandStaysInRange(t *testing.T) {
	t.Parallel()
	p := Policy{Base: 100 * time.Millisecond, Cap: time.Second}
	for attempt := range 64 {
		ceiling := min(time.Second, 100*time.Millisecond<<min(attempt, 10))
		for range 50 {
			d := p.Backoff(attempt)
			require.GreaterOrEqual(t, d, time.Duration(0))
			require.Less(t, d, ceiling)
		}
	}
}

func TestRetryableAndOutcome(t *testing.T) {
	t.Parallel()
	ue := func(k upstream.Kind, status int) error { return &upstream.Error{Kind: k, Status: status, Detail: "d"} }
	tests := []struct {
		name      string
		err       error
		retryable bool
		outcome   Outcome
	}{
		{"nil", nil, false, Success},
		{"connect", ue(upstream.KindConnect, 0), true, Failure},
		{"connect, wrapped", fmt.Errorf("provider: %w", ue(upstream.KindConnect, 0)), true, Failure},
		{"timeout", ue(upstream.KindTimeout, 0), true, Failure},
		{"429", ue(upstream.KindRateLimited, 429), true, Ignored},
		{"502", ue(upstream.KindUpstream, 502), true, Failure},
		{"503", ue(upstream.KindUpstream, 503), true, Failure},
		{"504", ue(upstream.KindUpstream, 504), true, Failure},
		{"500", ue(upstream.KindUpstream, 500), false, Failure},
		{"501", ue(upstream.KindUpstream, 501), false, Failure},
		{"auth", ue(upstream.KindAuth, 401), false, Success},
		{"not found", ue(upstream.KindNotFound, 404), false, Success},
		{"other 4xx", ue(upstream.KindRejected, 400), false, Success},
		{"tls", ue(upstream.KindTLS, 0), false, Failure},
		{"too large", ue(upstream.KindTooLarge, 200), false, Failure},
		{"content type", ue(upstream.KindContentType, 200), false, Failure},
		{"malformed", ue(upstream.KindMalformed, 200), false, Failure},
		{"schema", ue(upstream.KindSchema, 200), false, Failure},
		{"caller cancelled", &upstream.Error{Kind: upstream.KindConnect, Err: context.Canceled}, false, Ignored},
		{"plain cancel", context.Canceled, false, Ignored},
		{"plain deadline", context.DeadlineExceeded, false, Failure},
		{"never reached upstream", errors.New("no key"), false, Ignored},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.retryable, Retryable(tc.err))
			require.Equal(t, tc.outcome, OutcomeOf(tc.err))
		})
	}
}
