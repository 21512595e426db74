package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/logtest"
	"github.com/intelgate/intelgate/internal/lookup"
)

// recordingMetrics keeps what the gateway records.
type recordingMetrics struct {
	mu   sync.Mutex
	seen []string // "route method status"
}

func (m *recordingMetrics) RecordHTTP(route, method string, status int, _ time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seen = append(m.seen, route+" "+method+" "+http.StatusText(status))
}

func (m *recordingMetrics) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "exposition\n") })
}

func (m *recordingMetrics) last() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.seen[len(m.seen)-1]
}

// TestEveryRequestIsRecordedByItsRoute: the route is the pattern that
// served the request (never its path, which can hold an indicator), ""
// for none, with the status the client got — refusals by middleware
// included. /metrics on the main listener is for admin clients only.
func TestEveryRequestIsRecordedByItsRoute(t *testing.T) {
	t.Parallel()
	m := &recordingMetrics{}
	log, _ := logtest.JSONLogger()
	g, err := New(Options{Auth: fakeAuth{}, Lookups: newLookups(t, lookup.Options{}), Log: log,
		Metrics: m, MetricsOnMain: true})
	require.NoError(t, err)
	h := g.Handler()
	cases := []struct {
		method, target, token string
		want                  string
	}{
		{http.MethodGet, "/healthz", "", "GET /healthz GET OK"},
		{http.MethodGet, "/v1/quota", testToken, "GET /v1/quota GET Not Found"}, // no quota reporter here
		{http.MethodGet, "/v1/lookup?indicator=10.9.8.7", "", "GET /v1/lookup GET Unauthorized"},
		{http.MethodGet, "/v1/10.9.8.7/secret-path", testToken, " GET Not Found"},
		{http.MethodDelete, "/v1/quota", testToken, " DELETE Method Not Allowed"},
		{http.MethodGet, "/metrics", testToken, "GET /metrics GET Forbidden"},
		{http.MethodPost, "/admin/v1/cache/purge", testToken, "POST /admin/v1/cache/purge POST Forbidden"},
	}
	for _, tc := range cases {
		req := httptest.NewRequest(tc.method, tc.target, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, tc.want, m.last(), "%s %s", tc.method, tc.target)
		require.NotContains(t, m.last(), "10.9.8.7")
		if strings.HasSuffix(tc.target, "/metrics") {
			p := decodeProblem(t, rec)
			require.Equal(t, problemBase+"admin-required", p.Type, "a non-admin gets no exposition")
			require.NotContains(t, rec.Body.String(), "exposition")
		}
	}
}
