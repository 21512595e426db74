// Package backoff is the one retry backoff law of intelgate, shared by the
// gateway's upstream retries (internal/resilience) and the Go SDK's
// retries against the gateway (client): exponential ceilings with full
// jitter. Full jitter rather than a fixed exponential: callers and replicas
// that failed together would otherwise retry together, in waves.
package backoff

import (
	"math"
	"time"
)

// Ceiling is the bound of the wait before retry number retry (1 for the
// first retry): base·2^(retry-1), at most limit (≤ 0: no limit beyond
// overflow). It saturates rather than overflowing for any retry count; 0
// when base ≤ 0 or retry < 1.
func Ceiling(base, limit time.Duration, retry int) time.Duration {
	if base <= 0 || retry < 1 {
		return 0
	}
	if limit <= 0 {
		limit = math.MaxInt64
	}
	c := min(base, limit)
	for i := 1; i < retry && c < limit; i++ {
		if c > limit/2 {
			return limit
		}
		c *= 2
	}
	return c
}

// Jitter is a wait uniform in [0, ceiling) for u uniform in [0, 1): u out
// of range (or NaN) is clamped, and the result is always strictly below a
// positive ceiling.
func Jitter(ceiling time.Duration, u float64) time.Duration {
	if ceiling <= 0 || !(u > 0) { // also catches NaN
		return 0
	}
	d := float64(ceiling) * u
	// float64(MaxInt64) rounds up to 2^63, and converting that back
	// overflows; keep the product strictly below the ceiling.
	if d >= float64(ceiling) || d >= math.MaxInt64 {
		return ceiling - 1
	}
	return time.Duration(d)
}
