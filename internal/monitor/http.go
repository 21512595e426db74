package monitor

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The route label is the ServeMux pattern that matched, never the path: a
// path can hold an indicator (or a vendor-compatible route's key). The
// server reports each request itself (RecordHTTP) from the state it keeps
// anyway — the gateway from its access log's — so no wrapper of ours sits
// on the request path.

const unmatched = "unmatched"

// RecordHTTP counts one request in intelgate_http_requests_total and its
// duration in intelgate_http_request_duration_seconds: route is the
// ServeMux pattern that served it ("" when none), status the final status
// written (0: nothing, i.e. 200), d how long it took.
func (m *Metrics) RecordHTTP(route, method string, status int, d time.Duration) {
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
