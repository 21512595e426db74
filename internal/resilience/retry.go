package resilience

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/intelgate/intelgate/internal/upstream"
)

// Policy is how often and how patiently one upstream call is retried.
type Policy struct {
	// MaxAttempts counts the first attempt: 3 means up to two retries.
	MaxAttempts int
	// Base is the backoff ceiling before the first retry; it doubles per
	// retry up to Cap.
	Base time.Duration
	// Cap bounds every backoff; ≤ 0 means no bound beyond overflow.
	Cap time.Duration
	// Rand returns a uniform value in [0, 1); nil uses math/rand/v2. Tests
	// inject a fixed value.
	Rand func() float64
}

// Backoff is the wait before retry number attempt (0 for the wait after the
// first failed attempt): full jitter, uniform in [0, min(Cap, Base·2^attempt)).
// Full jitter rather than a fixed exponential: replicas and callers that
// failed together would otherwise retry together, in waves. The ceiling
// saturates rather than overflowing for any attempt count.
func (p Policy) Backoff(attempt int) time.Duration {
	ceiling := p.ceiling(attempt)
	if ceiling <= 0 {
		return 0
	}
	r := p.rand()
	d := float64(ceiling) * r
	// float64(MaxInt64) rounds up to 2^63, and converting that back
	// overflows; keep the product strictly below the ceiling.
	if d >= float64(ceiling) || d >= math.MaxInt64 {
		return ceiling - 1
	}
	return time.Duration(d)
}

func (p Policy) ceiling(attempt int) time.Duration {
	if p.Base <= 0 {
		return 0
	}
	limit := time.Duration(math.MaxInt64)
	if p.Cap > 0 {
		limit = p.Cap
	}
	c := min(p.Base, limit)
	for i := 0; i < attempt && c < limit; i++ {
		if c > limit/2 {
			return limit
		}
		c *= 2
	}
	return c
}

func (p Policy) rand() float64 {
	r := rand.Float64()
	if p.Rand != nil {
		r = p.Rand()
	}
	if !(r >= 0) { // also catches NaN
		return 0
	}
	return min(r, 1)
}

// Retryable reports whether another attempt could succeed where this one
// failed. Only failures of the path are retried: a connection that did not
// happen or broke (connect), an answer that did not come in time (timeout),
// a gateway-ish 502/503/504, and a 429 (after its Retry-After). Everything
// else would fail the same way again: auth, not_found and other 4xx are
// answers, a bad body (too_large, content_type, malformed, schema) is the
// upstream's behaviour, and a TLS failure is a configuration problem that
// retrying only hides. A caller's own cancellation is never retried.
func Retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var ue *upstream.Error
	if !errors.As(err, &ue) {
		return false
	}
	switch ue.Kind {
	case upstream.KindConnect, upstream.KindTimeout, upstream.KindRateLimited:
		return true
	case upstream.KindUpstream:
		switch ue.Status {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
	}
	return false
}
