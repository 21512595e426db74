package upstream

import (
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSlowDownSignals: every header an upstream may use to say "wait"
// reaches Error.RetryAfter on 429/503, and an exhausted quota on a success
// reaches Response.ExhaustedFor before the upstream has to refuse anything.
func TestSlowDownSignals(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, time.November, 27, 9, 0, 0, 0, time.UTC)
	epoch := strconv.FormatInt(now.Add(45*time.Second).Unix(), 10)
	tests := []struct {
		name      string
		status    int
		headers   []string // key, value pairs
		wantKind  Kind     // "" means success
		wantRetry time.Duration
		wantPause time.Duration
	}{
		{"429 x-ratelimit delta", 429, []string{"X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "12"},
			KindRateLimited, 12 * time.Second, 0},
		{"429 x-ratelimit epoch", 429, []string{"X-RateLimit-Remaining", "0", "X-RateLimit-Reset", epoch},
			KindRateLimited, 45 * time.Second, 0},
		{"429 ietf current draft", 429, []string{"RateLimit", `"default";r=0;t=30`, "RateLimit-Policy", `"default";q=10;w=60`},
			KindRateLimited, 30 * time.Second, 0},
		{"429 ietf old draft", 429, []string{"RateLimit-Remaining", "0", "RateLimit-Reset", "9"},
			KindRateLimited, 9 * time.Second, 0},
		{"429 retry-after wins", 429, []string{"Retry-After", "3", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "12"},
			KindRateLimited, 3 * time.Second, 0},
		{"429 malformed everything", 429, []string{"Retry-After", "soon", "RateLimit", `"x";r=;t=`, "X-RateLimit-Reset", "-1"},
			KindRateLimited, 0, 0},
		{"503 ietf", 503, []string{"RateLimit", `"default";r=0;t=20`}, KindUpstream, 20 * time.Second, 0},
		{"500 ignores slow-down headers", 500, []string{"Retry-After", "20"}, KindUpstream, 0, 0},
		{"404 carries the exhausted hint", 404, []string{"X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "8"},
			KindNotFound, 8 * time.Second, 0},

		{"200 exhausted x-ratelimit", 200, []string{"X-RateLimit-Limit", "10", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1"},
			"", 0, time.Second},
		{"200 exhausted ietf", 200, []string{"RateLimit", `"default";r=0;t=30`}, "", 0, 30 * time.Second},
		{"200 units remain", 200, []string{"X-RateLimit-Remaining", "4", "X-RateLimit-Reset", "1"}, "", 0, 0},
		{"200 retry-after is not a pause hint", 200, []string{"Retry-After", "30"}, "", 0, 0},
		{"200 no headers", 200, nil, "", 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptestPlain(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				for i := 0; i+1 < len(tc.headers); i += 2 {
					w.Header().Set(tc.headers[i], tc.headers[i+1])
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, `{"ok":true}`)
			}))
			c := newClient(t, Options{})
			c.now = func() time.Time { return now }
			resp, err := get(t.Context(), t, c, srv.URL, Validation{})
			if tc.wantKind == "" {
				require.NoError(t, err)
				require.Equal(t, tc.wantPause, resp.ExhaustedFor)
				return
			}
			ue := requireKind(t, err, tc.wantKind)
			require.Equal(t, tc.wantRetry, ue.RetryAfter)
		})
	}
}
