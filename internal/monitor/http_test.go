package monitor_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/monitor"
)

const (
	indicator = "evil-c2.example.net"
	token     = "igw_live_S3cr3tT0k3nValue"
)

// apiMux is a ServeMux shaped like the gateway's; with named, each handler
// is registered through m.Route.
func apiMux(m *monitor.Metrics, named bool) *http.ServeMux {
	mux := http.NewServeMux()
	handle := func(pattern string, h http.HandlerFunc) {
		var hh http.Handler = h
		if named {
			hh = m.Route(pattern, h)
		}
		mux.Handle(pattern, hh)
	}
	handle("GET /v1/lookup", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{}`) })
	handle("GET /v1/jobs/{id}", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no such job", http.StatusNotFound) })
	handle("POST /v1/jobs", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) })
	handle("GET /v1/hints", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusEarlyHints) // interim: the final status is what counts
		w.WriteHeader(http.StatusNoContent)
	})
	handle("GET /v1/boom", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	return mux
}

// copying stands for the gateway's request-context middleware: it hands
// the mux a copy of the request, on which the mux then sets Pattern.
func copying(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		type key struct{}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), key{}, "request state")))
	})
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
		{"GET", "/v1/hints"},
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
	`intelgate_http_requests_total{code_class="2xx",method="GET",route="GET /v1/hints"}`:     1,
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

func TestHTTPRouteLabels(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// wire builds the handler under test around a mux.
		wire func(m *monitor.Metrics) http.Handler
		want map[string]float64
	}{
		{"Instrument directly around the mux reads r.Pattern",
			func(m *monitor.Metrics) http.Handler { return m.Instrument(apiMux(m, false)) },
			withUnmatched(matchedRoutes)},
		{"Instrument outermost with Route at registration survives a copying middleware",
			func(m *monitor.Metrics) http.Handler { return m.Instrument(copying(apiMux(m, true))) },
			withUnmatched(matchedRoutes)},
		// Pins the net/http behaviour that makes Route necessary: the mux sets
		// Pattern on the copy it was handed, which the outer middleware never
		// sees. If this starts failing, net/http changed and Route may go.
		{"Instrument outside a copying middleware, without Route, sees no pattern",
			func(m *monitor.Metrics) http.Handler { return m.Instrument(copying(apiMux(m, false))) },
			map[string]float64{
				`intelgate_http_requests_total{code_class="2xx",method="GET",route="unmatched"}`:    3,
				`intelgate_http_requests_total{code_class="2xx",method="POST",route="unmatched"}`:   1,
				`intelgate_http_requests_total{code_class="4xx",method="GET",route="unmatched"}`:    3,
				`intelgate_http_requests_total{code_class="5xx",method="GET",route="unmatched"}`:    1,
				`intelgate_http_requests_total{code_class="4xx",method="DELETE",route="unmatched"}`: 1,
				`intelgate_http_requests_total{code_class="4xx",method="other",route="unmatched"}`:  1,
			}},
		{"Route alone records the routes it wraps",
			func(m *monitor.Metrics) http.Handler { return copying(apiMux(m, true)) },
			matchedRoutes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := monitor.New(monitor.Options{})
			serveAPI(t, tc.wire(m))

			require.Equal(t, tc.want, samples(t, m.Registry(), "intelgate_http_requests_total"))
			var total float64
			for _, v := range tc.want {
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
		})
	}
}

func TestInstrumentKeepsStreaming(t *testing.T) {
	t.Parallel()
	m := monitor.New(monitor.Options{})
	h := m.Instrument(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		f, ok := w.(http.Flusher)
		require.True(t, ok, "the wrapper hides http.Flusher")
		_, _ = io.WriteString(w, "{}\n")
		f.Flush()
		require.NoError(t, http.NewResponseController(w).Flush(), "Unwrap reaches the real writer")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/jobs/1/results", nil))
	require.True(t, rec.Flushed)
	require.Equal(t, map[string]float64{
		`intelgate_http_requests_total{code_class="2xx",method="GET",route="unmatched"}`: 1,
	}, samples(t, m.Registry(), "intelgate_http_requests_total"))
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
