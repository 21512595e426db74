package retryafter

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestFromHeaders(t *testing.T) {
	t.Parallel()
	epoch := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	maxDur := time.Duration(math.MaxInt64)
	tests := []struct {
		name string
		h    http.Header
		want time.Duration
		ok   bool
	}{
		{"nil header", nil, 0, false},
		{"no headers", header(), 0, false},

		// Retry-After comes first.
		{"retry-after seconds", header("Retry-After", "12"), 12 * time.Second, true},
		{"retry-after date", header("Retry-After", "Fri, 27 Nov 2026 09:01:00 GMT"), time.Minute, true},
		{"retry-after wins over x-ratelimit", header("Retry-After", "5",
			"X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "60"), 5 * time.Second, true},
		{"malformed retry-after falls through", header("Retry-After", "soon",
			"X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "60"), time.Minute, true},

		// IETF current draft.
		{"ietf exhausted", header("RateLimit", `"default";r=0;t=30`), 30 * time.Second, true},
		{"ietf remaining left", header("RateLimit", `"default";r=5;t=30`), 0, false},
		{"ietf token name", header("RateLimit", `default;r=0;t=7`), 7 * time.Second, true},
		{"ietf longest exhausted policy", header("RateLimit", `"day";r=0;t=3600, "burst";r=0;t=30`), time.Hour, true},
		{"ietf only exhausted policies count", header("RateLimit", `"day";r=10;t=3600, "burst";r=0;t=30`), 30 * time.Second, true},
		{"ietf two header lines", header("RateLimit", `"day";r=10;t=3600`, "RateLimit", `"burst";r=0;t=4`), 4 * time.Second, true},
		{"ietf comma inside quoted name", header("RateLimit", `"a,b";r=0;t=9`), 9 * time.Second, true},
		{"ietf whitespace", header("RateLimit", ` "default" ; r=0 ; t=11 `), 11 * time.Second, true},
		{"ietf no t uses policy window", header("RateLimit", `"burst";r=0`,
			"RateLimit-Policy", `"day";q=1000;w=86400, "burst";q=10;w=60`), time.Minute, true},
		{"ietf no t and no policy", header("RateLimit", `"burst";r=0`), 0, false},
		{"ietf no t, policy for another name", header("RateLimit", `"burst";r=0`,
			"RateLimit-Policy", `"day";q=1000;w=86400`), 0, false},
		{"ietf negative t ignored", header("RateLimit", `"default";r=0;t=-5`), 0, false},
		{"ietf malformed r ignored", header("RateLimit", `"default";r=zero;t=5`), 0, false},
		{"ietf huge t saturates", header("RateLimit", `"d";r=0;t=99999999999999999999999`), maxDur, true},
		{"ietf unterminated quote", header("RateLimit", `"default;r=0;t=5`), 0, false},
		{"ietf garbage", header("RateLimit", `;;,,==;"`), 0, false},

		// IETF draft 07 dictionary form.
		{"draft-07 dictionary", header("RateLimit", "limit=100, remaining=0, reset=25"), 25 * time.Second, true},
		{"draft-07 dictionary remaining", header("RateLimit", "limit=100, remaining=3, reset=25"), 0, false},

		// Older IETF draft: separate fields.
		{"old draft exhausted", header("RateLimit-Remaining", "0", "RateLimit-Reset", "30"), 30 * time.Second, true},
		{"old draft remaining left", header("RateLimit-Remaining", "1", "RateLimit-Reset", "30"), 0, false},
		{"old draft reset missing", header("RateLimit-Remaining", "0"), 0, false},
		{"old draft reset is never an epoch", header("RateLimit-Remaining", "0", "RateLimit-Reset", "2000000000"),
			2000000000 * time.Second, true},

		// X-RateLimit convention.
		{"x delta seconds", header("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "42"), 42 * time.Second, true},
		{"x epoch", header("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", epoch(90*time.Second)), 90 * time.Second, true},
		{"x epoch in the past", header("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", epoch(-time.Hour)), 0, true},
		{"x epoch beyond year 9999 saturates", header("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "99999999999999"), maxDur, true},
		{"x int64 overflow saturates", header("X-RateLimit-Remaining", "0",
			"X-RateLimit-Reset", "999999999999999999999999999"), maxDur, true},
		{"x fraction rounds up", header("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1.2"), 2 * time.Second, true},
		{"x zero fraction", header("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "3.000"), 3 * time.Second, true},
		{"x remaining left", header("X-RateLimit-Remaining", "7", "X-RateLimit-Reset", "42"), 0, false},
		{"x reset only", header("X-RateLimit-Reset", "42"), 0, false},
		{"x remaining negative", header("X-RateLimit-Remaining", "-1", "X-RateLimit-Reset", "42"), 0, false},
		{"x remaining blank", header("X-RateLimit-Remaining", "", "X-RateLimit-Reset", "42"), 0, false},
		{"x reset negative", header("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "-42"), 0, false},
		{"x reset garbage", header("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "later"), 0, false},
		{"x reset bare dot", header("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "5."), 0, false},
		{"x reset date is not accepted", header("X-RateLimit-Remaining", "0",
			"X-RateLimit-Reset", "Fri, 27 Nov 2026 09:01:00 GMT"), 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := FromHeaders(tc.h, now)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, got)
		})
	}
}

func FuzzFromHeaders(f *testing.F) {
	for _, seed := range [][4]string{
		{"", `"default";r=0;t=30`, `"default";q=10;w=60`, ""},
		{"", `"burst";r=0`, `"burst";q=10;w=60`, ""},
		{"", "limit=1, remaining=0, reset=3", "", ""},
		{"soon", "", "", "0|1700000000"},
		{"", "", "", "0|1.5"},
		{"", `"a\",b";r=0;t=1`, `;;"`, "0|99999999999999999999"},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3], int64(0))
	}
	f.Fuzz(func(t *testing.T, retryAfter, rateLimit, policy, xPair string, offset int64) {
		remaining, reset, _ := strings.Cut(xPair, "|")
		h := header("Retry-After", retryAfter, "RateLimit", rateLimit, "RateLimit-Policy", policy,
			"RateLimit-Remaining", remaining, "RateLimit-Reset", reset,
			"X-RateLimit-Remaining", remaining, "X-RateLimit-Reset", reset)
		d, ok := FromHeaders(h, now.Add(time.Duration(offset)))
		if d < 0 {
			t.Fatalf("FromHeaders = %v, negative", d)
		}
		if !ok && d != 0 {
			t.Fatalf("FromHeaders = %v, false; want 0 when nothing usable", d)
		}
	})
}

func TestExhaustedIgnoresRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		h    http.Header
		want time.Duration
		ok   bool
	}{
		{"retry-after alone", header("Retry-After", "30"), 0, false},
		{"rate-limit headers", header("Retry-After", "30", "RateLimit", `"d";r=0;t=5`), 5 * time.Second, true},
		{"nil", nil, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := Exhausted(tc.h, now)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestExhaustedNamed(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name             string
		remaining, reset string
		format           string
		want             time.Duration
		ok               bool
	}{
		{"unix", "0", strconv.FormatInt(now.Add(90*time.Second).Unix(), 10), ResetUnix, 90 * time.Second, true},
		{"unix fraction rounds up", "0", strconv.FormatInt(now.Add(90*time.Second).Unix(), 10) + ".2", ResetUnix, 91 * time.Second, true},
		{"seconds", "0", "30", ResetSeconds, 30 * time.Second, true},
		{"http-date", "0", now.Add(time.Minute).Format(http.TimeFormat), ResetHTTPDate, time.Minute, true},
		{"units remain", "3", "30", ResetSeconds, 0, false},
		{"no remaining header", "", "30", ResetSeconds, 0, false},
		{"bad reset", "0", "soon", ResetSeconds, 0, false},
		{"past reset", "0", strconv.FormatInt(now.Add(-time.Minute).Unix(), 10), ResetUnix, 0, true},
		{"unknown format", "0", "30", "iso", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if tt.remaining != "" {
				h.Set("X-Rate-Limit-Remaining", tt.remaining)
			}
			h.Set("X-Rate-Limit-Reset", tt.reset)
			got, ok := ExhaustedNamed(h, "X-Rate-Limit-Remaining", "X-Rate-Limit-Reset", tt.format, now)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("ExhaustedNamed = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}
