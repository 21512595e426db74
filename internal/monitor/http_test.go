package monitor_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/monitor"
)

const (
	indicator = "evil-c2.example.net"
	token     = "igw_live_S3cr3tT0k3nValue"
)

// apiMux is a ServeMux shaped like the gateway's.
func apiMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/lookup", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{}`) })
	mux.HandleFunc("GET /v1/jobs/{id}", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no such job", http.StatusNotFound) })
	mux.HandleFunc("POST /v1/jobs", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) })
	mux.HandleFunc("GET /v1/boom", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	return mux
}

// recorded reports every request next serves to m the way the gateway
// does: the pattern the mux set on the request, the status written.
func recorded(m *monitor.Metrics, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &status{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		m.RecordHTTP(r.Pattern, r.Method, rec.code, time.Since(start))
	})
}

type status struct {
	http.ResponseWriter
	code int
}

func (s *status) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// serveAPI sends the test's requests, indicators and tokens included, to
// h through a real server.
func serveAPI(t *testing.T, h http.Handler) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	for _, req := range []struct{ method, target string }{
		{"GET", "/v1/lookup?indicator=" + indicator + "&provider=vt"},
		{"GET", "/v1/lookup?indicator=" + indicator + "&token=" + token},
		{"GET", "/v1/jobs/" + indicator},
		{"POST", "/v1/jobs"},
		{"GET", "/v1/boom"},
		{"GET", "/v1/nope/" + indicator},                                // no route: 404
		{"GET", "/vt/api/v3/domains/" + indicator + "?apikey=" + token}, // no route: 404
		{"DELETE", "/v1/lookup?indicator=" + indicator},                 // wrong method: 405
		{"BREW", "/v1/lookup"},                                          // not a method we name
	} {
		r, err := http.NewRequestWithContext(t.Context(), req.method, srv.URL+req.target, nil)
		require.NoError(t, err)
		r.Header.Set("Authorization", "Bearer "+token)
		resp, err := srv.Client().Do(r)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		require.NoError(t, resp.Body.Close())
	}
}

var matchedRoutes = map[string]float64{
	`intelgate_http_requests_total{code_class="2xx",method="GET",route="GET /v1/lookup"}`:    2,
	`intelgate_http_requests_total{code_class="4xx",method="GET",route="GET /v1/jobs/{id}"}`: 1,
	`intelgate_http_requests_total{code_class="2xx",method="POST",route="POST /v1/jobs"}`:    1,
	`intelgate_http_requests_total{code_class="5xx",method="GET",route="GET /v1/boom"}`:      1,
}

func withUnmatched(m map[string]float64) map[string]float64 {
	out := map[string]float64{
		`intelgate_http_requests_total{code_class="4xx",method="GET",route="unmatched"}`:    2,
		`intelgate_http_requests_total{code_class="4xx",method="DELETE",route="unmatched"}`: 1,
		`intelgate_http_requests_total{code_class="4xx",method="other",route="unmatched"}`:  1,
	}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// TestHTTPRouteLabels: requests are counted and timed by the pattern that
// matched ("unmatched" when none did), method (unknown ones as other) and
// status class; the scrape never holds a path, an indicator or a token.
func TestHTTPRouteLabels(t *testing.T) {
	t.Parallel()
	m := monitor.New(monitor.Options{})
	serveAPI(t, recorded(m, apiMux()))
	want := withUnmatched(matchedRoutes)
	require.Equal(t, want, samples(t, m.Registry(), "intelgate_http_requests_total"))
	var total float64
	for _, v := range want {
		total += v
	}
	var timed float64
	for k, v := range samples(t, m.Registry(), "intelgate_http_request_duration_seconds") {
		if strings.HasSuffix(strings.SplitN(k, "{", 2)[0], "_count") {
			timed += v
		}
	}
	require.Equal(t, total, timed, "every counted request is timed")

	code, body := scrape(t, m.Handler())
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "intelgate_http_requests_total{")
	for _, secret := range []string{indicator, token, "apikey", "/v1/nope", "indicator="} {
		require.NotContains(t, body, secret)
	}
}

func TestHandlerServesTextFormat(t *testing.T) {
	t.Parallel()
	m := monitor.New(monitor.Options{})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.True(t, strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain"), rec.Header().Get("Content-Type"))
	require.Contains(t, rec.Body.String(), "go_goroutines")
}
