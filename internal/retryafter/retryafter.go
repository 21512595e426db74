// Package retryafter parses the HTTP Retry-After header (RFC 9110 §10.2.3)
// and, through FromHeaders, the rate-limit headers upstreams use to say
// "slow down" (IETF RateLimit drafts and the X-RateLimit-* convention).
//
// It is ours rather than a library's because the details matter for quota
// safety: the header may be delta-seconds or an HTTP-date in any of the three
// formats HTTP/1.1 recipients must accept, a hostile or buggy server may send
// values that overflow a time.Duration, and a date in the past means "now",
// not "never". Both the gateway (pausing a provider) and the public Go SDK
// (pausing a client) use it, so they agree on what a header means.
package retryafter

import (
	"math"
	"net/http"
	"strings"
	"time"
)

// maxSeconds is the largest delta-seconds value that fits a time.Duration;
// anything above saturates rather than wrapping to a negative wait.
const maxSeconds = math.MaxInt64 / int64(time.Second)

// Parse interprets a Retry-After value relative to now. It returns the wait
// and true for a valid value, and 0, false for an absent or invalid one.
//
// Delta-seconds must be digits only (no sign, fraction or exponent); huge
// values saturate at the largest time.Duration. HTTP-dates are accepted in
// the IMF-fixdate, RFC 850 and asctime formats; a date at or before now
// yields 0, true. The result is never negative: callers cap it with Cap.
func Parse(value string, now time.Time) (time.Duration, bool) {
	v := strings.Trim(value, " \t") // OWS around a field value is not part of it
	if v == "" {
		return 0, false
	}
	if isDigits(v) {
		return secondsDuration(saturatingInt(v)), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return until(t, now), true
}

// until is how long from now to t: 0 for a moment at or before now. Sub
// saturates at the largest Duration, so far-future moments are safe.
func until(t, now time.Time) time.Duration {
	if !t.After(now) {
		return 0
	}
	return t.Sub(now)
}

// Cap bounds d to [0, max]. A non-positive max means "no upper bound", so a
// zero-valued setting never turns every wait into zero by accident.
func Cap(d, max time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	if max > 0 && d > max {
		return max
	}
	return d
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
