package monitor

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The route label is the ServeMux pattern that matched, never the path: a
// path can hold an indicator (or a vendor-compatible route's key).
//
// ServeMux sets Request.Pattern on the *Request it was handed (net/http
// server.go, ServeMux.ServeHTTP: h, r.Pattern, … = mux.findHandler(r)), so
// a middleware that passes its own r straight to the mux reads the
// pattern back after the call. A middleware in between that copies the
// request (r.WithContext, r.Clone: the gateway's request context does)
// hides it. Route names the route from inside the mux instead, and works
// whatever wraps it.

const unmatched = "unmatched"

// routeSlot carries the route name from Route, inside the mux, out to
// Instrument. Atomic because a handler may run on another goroutine than
// its caller (http.TimeoutHandler).
type routeSlot struct{ route atomic.Pointer[string] }

type routeSlotKey struct{}

// Instrument counts every request next serves in
// intelgate_http_requests_total and its duration in
// intelgate_http_request_duration_seconds. Put it outermost, so requests
// refused by other middleware are counted too. The route is the name given
// by Route when a Route wrapper served the request, else the pattern the
// mux set on this very request (next is the mux, or middleware that
// passes r on unchanged), else "unmatched".
func (m *Metrics) Instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		slot := &routeSlot{}
		r = r.WithContext(context.WithValue(r.Context(), routeSlotKey{}, slot))
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		route := r.Pattern
		if p := slot.route.Load(); p != nil {
			route = *p
		}
		m.recordHTTP(route, r.Method, rec.status, time.Since(start))
	})
}

// Route wraps the handler registered for pattern, naming the route for
// Instrument whatever middleware copies the request in between:
//
//	mux.Handle("GET /v1/lookup", m.Route("GET /v1/lookup", h))
//
// Without an Instrument around it, Route records the request itself.
func (m *Metrics) Route(pattern string, h http.Handler) http.Handler {
	route := capLabel(pattern, maxRouteLen)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slot, ok := r.Context().Value(routeSlotKey{}).(*routeSlot); ok {
			slot.route.Store(&route)
			h.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		m.recordHTTP(route, r.Method, rec.status, time.Since(start))
	})
}

// RecordHTTP counts one request that a server instrumented itself: route
// is the ServeMux pattern that served it ("" when none), status what was
// written (0: nothing, i.e. 200), d how long it took. A server that keeps
// its own per-request state (the gateway's access log) records through
// this and pays for no wrapper of its own.
func (m *Metrics) RecordHTTP(route, method string, status int, d time.Duration) {
	m.recordHTTP(route, method, status, d)
}

func (m *Metrics) recordHTTP(route, method string, status int, d time.Duration) {
	route = capLabel(route, maxRouteLen)
	if route == "" {
		route = unmatched
	}
	m.httpRequests.WithLabelValues(route, oneOf(method, httpMethods), codeClass(status)).Inc()
	m.httpDuration.WithLabelValues(route).Observe(d.Seconds())
}

// codeClass is "2xx".."5xx"; a handler that wrote nothing sent 200.
func codeClass(status int) string {
	switch {
	case status == 0:
		return "2xx"
	case status >= 100 && status < 600:
		return [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}[status/100-1]
	}
	return other
}

// statusRecorder remembers the final status written.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 && code >= 200 { // 1xx are interim: the final status follows
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Flush keeps streaming responses (NDJSON results) streaming through the
// wrapper for handlers that assert http.Flusher.
func (s *statusRecorder) Flush() {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler { return m.handler }

// Handler limits: a scrape is cheap but not free (process and Go stats,
// the quota source), so a few concurrent scrapers share one gather and a
// crowd of them gets 503 rather than load; Timeout stays above
// MaxCollectTimeout for both sources and below Prometheus's default 10s
// scrape timeout.
const (
	maxScrapesInFlight = 4
	scrapeTimeout      = 8 * time.Second
)

func newHandler(reg *prometheus.Registry, log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: promLogger{log},
		// A collector failing (a bug: our sources skip their own errors)
		// should cost its series, not every dashboard's.
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            reg, // promhttp_metric_handler_errors_total
		MaxRequestsInFlight: maxScrapesInFlight,
		CoalesceGather:      true,
		Timeout:             scrapeTimeout,
	})
}

// promLogger adapts slog to promhttp.Logger.
type promLogger struct{ log *slog.Logger }

func (l promLogger) Println(v ...any) {
	l.log.Error("serving metrics", "error", fmt.Sprint(v...))
}
