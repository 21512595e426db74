package resilience

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/intelgate/intelgate/internal/backoff"
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
// first failed attempt): full jitter, uniform in [0, min(Cap, Base·2^attempt)),
// by the law the SDK follows too (internal/backoff).
func (p Policy) Backoff(attempt int) time.Duration {
	retry := 1 // a negative attempt is the first
	if attempt > 0 {
		retry = attempt + min(1, math.MaxInt-attempt) // saturates at MaxInt
	}
	return backoff.Jitter(backoff.Ceiling(p.Base, p.Cap, retry), p.rand())
}

func (p Policy) rand() float64 {
	if p.Rand != nil {
		return p.Rand()
	}
	return rand.Float64()
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
