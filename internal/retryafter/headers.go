package retryafter

import (
	"math"
	"net/http"
	"strings"
	"time"
)

// maxEpoch is 9999-12-31T23:59:59Z. A "Unix timestamp" beyond it is not a
// date any server means, and time.Unix would overflow its internal
// representation near MaxInt64; such values saturate instead.
const maxEpoch = 253402300799

// epochThreshold separates delta-seconds from Unix timestamps in
// X-RateLimit-Reset, which vendors use both ways: a delta of 10^9 seconds is
// 31 years, a timestamp of 10^9 is September 2001, so a larger value can
// only sensibly be a timestamp.
const epochThreshold = 1_000_000_000

// FromHeaders finds how long an upstream asks us to wait, relative to now.
// It reads, in order, and returns the first that yields a wait:
//
//  1. Retry-After (see Parse);
//  2. the IETF RateLimit header of the current draft
//     (RateLimit: "default";r=0;t=30, with RateLimit-Policy supplying the
//     window w when t is absent), or its draft-07 dictionary form
//     (RateLimit: limit=100, remaining=0, reset=30);
//  3. the older IETF draft's RateLimit-Remaining: 0 with RateLimit-Reset;
//  4. X-RateLimit-Remaining: 0 with X-RateLimit-Reset (delta-seconds, or a
//     Unix timestamp when the value exceeds 10^9).
//
// The rate-limit headers only yield a wait when remaining is exactly 0: a
// reset time alone is when a window rolls over, not a request to wait.
// Malformed values are skipped (ok=false when nothing usable is left); the
// wait is never negative and saturates rather than overflowing, so callers
// must still Cap it.
func FromHeaders(h http.Header, now time.Time) (wait time.Duration, ok bool) {
	if h == nil {
		return 0, false
	}
	if d, ok := Parse(h.Get("Retry-After"), now); ok {
		return d, true
	}
	return Exhausted(h, now)
}

// Exhausted reads only the rate-limit headers (steps 2–4 of FromHeaders):
// the wait until an exhausted quota window resets. On a successful response
// it is a proactive hint — the next request would be refused — whereas
// Retry-After on a 2xx means something else (RFC 9110 §10.2.3) and is not
// read here.
func Exhausted(h http.Header, now time.Time) (wait time.Duration, ok bool) {
	if h == nil {
		return 0, false
	}
	if d, ok := ietfRateLimit(h); ok {
		return d, true
	}
	// Header names are written in Go's canonical form (Ratelimit, not
	// RateLimit): Get canonicalises its argument anyway, and an already
	// canonical name costs no allocation on every answer.
	if d, ok := exhaustedPair(h.Get("Ratelimit-Remaining"), h.Get("Ratelimit-Reset"), now, false); ok {
		return d, true
	}
	return exhaustedPair(h.Get("X-Ratelimit-Remaining"), h.Get("X-Ratelimit-Reset"), now, true)
}

// exhaustedPair reads a remaining/reset header pair. The IETF drafts define
// reset as delta-seconds only; the X- convention also uses Unix timestamps,
// which allowEpoch permits.
func exhaustedPair(remaining, reset string, now time.Time, allowEpoch bool) (time.Duration, bool) {
	r, ok := parseCount(remaining)
	if !ok || r != 0 {
		return 0, false
	}
	return parseReset(reset, now, allowEpoch)
}

// parseCount reads a non-negative integer count, saturating at MaxInt64.
func parseCount(v string) (int64, bool) {
	v = strings.Trim(v, " \t")
	if v == "" || !isDigits(v) {
		return 0, false
	}
	return saturatingInt(v), true
}

// parseReset reads a reset value: digits with an optional fraction (some
// vendors send "1.5" or a fractional timestamp), rounded up so we never
// resume early.
func parseReset(v string, now time.Time, allowEpoch bool) (time.Duration, bool) {
	v = strings.Trim(v, " \t")
	whole, frac, hasFrac := strings.Cut(v, ".")
	if whole == "" || !isDigits(whole) || (hasFrac && (frac == "" || !isDigits(frac))) {
		return 0, false
	}
	n := saturatingInt(whole)
	if hasFrac && strings.Trim(frac, "0") != "" && n < math.MaxInt64 {
		n++
	}
	if allowEpoch && n > epochThreshold {
		if n > maxEpoch {
			return time.Duration(math.MaxInt64), true
		}
		return until(time.Unix(n, 0), now), true
	}
	return secondsDuration(n), true
}

// saturatingInt converts an all-digit string, stopping at MaxInt64.
func saturatingInt(s string) int64 {
	var n int64
	for i := 0; i < len(s); i++ {
		d := int64(s[i] - '0')
		if n > (math.MaxInt64-d)/10 {
			return math.MaxInt64
		}
		n = n*10 + d
	}
	return n
}

// secondsDuration converts whole seconds, saturating at the largest
// Duration.
func secondsDuration(n int64) time.Duration {
	if n > maxSeconds {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(n) * time.Second
}

// Reset formats of a vendor's named reset header (ExhaustedNamed).
const (
	ResetUnix     = "unix"      // epoch seconds
	ResetSeconds  = "seconds"   // delta-seconds until the reset
	ResetHTTPDate = "http-date" // an HTTP date, as Retry-After may be
)

// ExhaustedNamed is Exhausted for a vendor whose rate-limit headers have
// names of their own: remaining and reset name the headers, format says
// how reset is written. As with Exhausted, only a remaining count of
// exactly 0 yields a wait.
func ExhaustedNamed(h http.Header, remaining, reset, format string, now time.Time) (time.Duration, bool) {
	if h == nil {
		return 0, false
	}
	r, ok := parseCount(h.Get(remaining))
	if !ok || r != 0 {
		return 0, false
	}
	v := h.Get(reset)
	switch format {
	case ResetUnix:
		whole, frac, _ := strings.Cut(strings.Trim(v, " \t"), ".")
		if whole == "" || !isDigits(whole) || frac != "" && !isDigits(frac) {
			return 0, false
		}
		n := saturatingInt(whole)
		if n > maxEpoch {
			return time.Duration(math.MaxInt64), true
		}
		if strings.Trim(frac, "0") != "" {
			n++ // rounded up: never resume early
		}
		return until(time.Unix(n, 0), now), true
	case ResetSeconds:
		return parseReset(v, now, false)
	case ResetHTTPDate:
		t, err := http.ParseTime(strings.Trim(v, " \t"))
		if err != nil {
			return 0, false
		}
		return until(t, now), true
	}
	return 0, false
}
