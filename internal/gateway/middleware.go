package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/intelgate/intelgate/internal/lookup"
)

// requestState is everything the gateway keeps about one request, held in
// its context as one value: one allocation (the status recorder included)
// and one context layer per request instead of one per fact.
// withRequestContext makes it; the handlers fill in info as they learn it,
// and authenticated the identity.
type requestState struct {
	id       string
	info     requestInfo
	identity lookup.Identity // zero until authenticated
	rec      statusRecorder
}

type requestStateKey struct{}

func stateFrom(ctx context.Context) *requestState {
	s, _ := ctx.Value(requestStateKey{}).(*requestState)
	return s
}

// requestInfo collects what the access log reports about one request; the
// handlers fill it in as they learn it.
type requestInfo struct {
	client        string
	providers     []string
	indicatorType string
	indicator     string
	problem       string
	// clientRequestID is the caller's own X-Request-Id when it was not
	// adopted (the caller is not a trusted proxy), kept for correlation.
	clientRequestID string
	// quiet lowers the access log line to debug: the request is an
	// authentication failure, already counted in the aggregated log.
	quiet bool
}

func infoFrom(ctx context.Context) *requestInfo {
	if s := stateFrom(ctx); s != nil {
		return &s.info
	}
	return nil
}

func requestID(ctx context.Context) string {
	if s := stateFrom(ctx); s != nil {
		return s.id
	}
	return ""
}

// inboundIDPattern bounds what we accept as a caller-supplied request id, so
// a client cannot inject log lines or huge values through it.
var inboundIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{8,64}$`)

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// statusRecorder remembers the status and size written, for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// withRequestContext assigns the request id, records the access log line and
// turns a panic into a 500 problem that carries no stack or secret.
//
// A caller's X-Request-Id becomes the request id only when the connection
// comes from server.trusted_proxies (a proxy that set or vetted it) and
// carries exactly one. From
// anyone else it could be chosen to collide with another request's id and
// so spoof log correlation; the gateway makes its own, and logs the
// caller's (when it matches the safe pattern) as client_request_id.
func (g *Gateway) withRequestContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := g.now()
		st := &requestState{}
		info := &st.info
		ids := r.Header.Values("X-Request-Id")
		id := r.Header.Get("X-Request-Id")
		switch {
		case !inboundIDPattern.MatchString(id):
			id = newRequestID()
		case len(ids) != 1 || !g.proxies.TrustsPeer(r.RemoteAddr):
			// Two ids mean a proxy appended its own to the client's
			// rather than replacing it: neither is adopted.
			info.clientRequestID, id = id, newRequestID()
		}
		st.id = id
		ctx := context.WithValue(r.Context(), requestStateKey{}, st)
		if g.requestTimeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, g.requestTimeout)
			defer cancel()
		}
		r = r.WithContext(ctx)
		w.Header().Set("X-Request-Id", id)
		rec := &st.rec
		rec.ResponseWriter = w

		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				// The panic value and stack go to the log only; they are our
				// own code's, never a request's secret, but still are not sent.
				g.log.Error("panic serving request", "request_id", id,
					"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if rec.status == 0 {
					writeProblem(rec, r, newProblem(kindInternal, "an internal error occurred; quote the request id to your operator"))
				}
			}
			g.accessLog(r, rec, info, start)
			if g.metrics != nil {
				// The mux set the pattern on this very request: nothing
				// between here and it copies the request.
				route := r.Pattern
				if route == "/" {
					route = "" // the catch-all: no route matched
				}
				g.metrics.RecordHTTP(route, r.Method, rec.status, g.now().Sub(start))
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

func (g *Gateway) accessLog(r *http.Request, rec *statusRecorder, info *requestInfo, start time.Time) {
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	// Room for every attribute below, on the stack: growing the slice as
	// attributes are appended cost a heap allocation per step.
	attrs := make([]slog.Attr, 0, 13)
	attrs = append(attrs, slog.String("request_id", requestID(r.Context())))
	if info.clientRequestID != "" {
		attrs = append(attrs, slog.String("client_request_id", info.clientRequestID))
	}
	attrs = append(attrs,
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path), // never the query: it holds the indicator
		slog.Int("status", status),
		slog.Int64("bytes", rec.bytes),
		slog.Float64("latency_ms", float64(g.now().Sub(start).Microseconds())/1000),
		slog.String("remote", r.RemoteAddr),
	)
	if info.client != "" {
		attrs = append(attrs, slog.String("client", info.client))
	}
	if len(info.providers) > 0 {
		attrs = append(attrs, slog.String("provider", strings.Join(info.providers, ",")))
	}
	if info.indicatorType != "" {
		attrs = append(attrs, slog.String("indicator_type", info.indicatorType))
	}
	if g.logIndicators && info.indicator != "" {
		attrs = append(attrs, slog.String("indicator", info.indicator))
	}
	if info.problem != "" {
		attrs = append(attrs, slog.String("problem", strings.TrimPrefix(info.problem, problemBase)))
	}
	level := slog.LevelInfo
	if info.quiet {
		level = slog.LevelDebug
	}
	g.log.LogAttrs(r.Context(), level, "request", attrs...)
}

// securityHeaders are sent on every response: the API serves JSON only.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Assigned, not Set: the values are shared, allocated once (each
		// slice is full, so a later Add copies instead of appending into
		// it).
		h := w.Header()
		h["X-Content-Type-Options"] = headerNosniff
		h["Cache-Control"] = headerNoStore
		h["Referrer-Policy"] = headerNoReferrer
		next.ServeHTTP(w, r)
	})
}

var (
	headerNosniff    = []string{"nosniff"}
	headerNoStore    = []string{"no-store"}
	headerNoReferrer = []string{"no-referrer"}
	headerJSON       = []string{"application/json"}
)
