// Package gateway is intelgate's inbound HTTP API: routes, client
// authentication, the problem+json error contract, and handlers that map
// HTTP to the lookup service (internal/lookup) and its outcomes back to
// HTTP. It holds no lookup or upstream logic of its own.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/intelgate/intelgate/internal/audit"
	"github.com/intelgate/intelgate/internal/auth"
	"github.com/intelgate/intelgate/internal/clock"
	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/lookup"
)

// Authenticator identifies the calling application.
type Authenticator interface {
	Authenticate(r *http.Request) (*auth.Client, netip.Addr, error)
}

// SeenRecorder remembers when each client was last seen.
type SeenRecorder interface {
	TouchClient(ctx context.Context, client, addr string, at time.Time) error
}

// Checker is a readiness dependency (store, shared state).
type Checker interface {
	Ping(ctx context.Context) error
}

// Options are the Gateway's dependencies.
type Options struct {
	Auth Authenticator
	// Lookups answers /v1/lookup and /v1/resolve; its providers are the
	// ones /v1/quota reports.
	Lookups *lookup.Service
	Quota   QuotaReporter      // optional: GET /v1/quota
	Seen    SeenRecorder       // optional
	Ready   map[string]Checker // name → dependency, for /readyz
	// Degradable are dependencies the gateway can work without (Redis with
	// shared.fail: open): reported as "degraded", they keep /readyz 200 so
	// a load balancer does not pull every replica at once.
	Degradable    map[string]Checker
	Log           *slog.Logger
	LogIndicators bool
	MaxBodyBytes  int64
	// RequestTimeout bounds each request's work (waits, retries, upstream
	// calls) so the answer is written before the server's write timeout
	// cuts the connection. 0: no bound beyond the client's own.
	RequestTimeout time.Duration
	Clock          clock.Clock // default: the system clock
	// TrustedProxies is server.trusted_proxies, the list the Authenticator
	// was built with: only a connection from one of them may set the
	// request id (X-Request-Id), and the authentication failure limit
	// counts the client address they forward, as Authenticate sees it.
	TrustedProxies []netip.Prefix
	// AuthFailures limits authentication failures per source; a zero field
	// takes its config default (server.auth_failures). Its aggregated log
	// is written by Run.
	AuthFailures AuthFailureLimits
	// Metrics instruments every route (nil: none). With MetricsOnMain,
	// GET /metrics is served here too, to admin clients only (when
	// server.metrics_listen gives it no listener of its own).
	Metrics       Metrics
	MetricsOnMain bool
	// Audit records refused authentications and admin reads (nil: none);
	// Alerts serves GET /admin/v1/alerts and the acknowledgement (nil: the
	// routes are absent).
	Alerts Alerts
	// Jobs serves the bulk lookups, /v1/jobs (nil: the routes are absent);
	// JobsMaxBodyBytes caps a submission's body (jobs.max_body_bytes).
	Jobs             Jobs
	JobsMaxBodyBytes int64
	// DeadLetters serves /admin/v1/dlq (nil: the routes are absent).
	DeadLetters DeadLetters
	// Webhooks receives POST /v1/webhooks/{provider} (nil: absent);
	// WebhooksMaxBodyBytes is the largest providers.*.webhooks.max_body_bytes.
	Webhooks             Webhooks
	WebhooksMaxBodyBytes int64
	// KeyAges adds each key's age to /v1/quota (nil: not shown).
	KeyAges KeyAges
	// Operator serves the admin actions: reload, key revoke, client
	// disable, key list (nil: the routes are absent).
	Operator Operator
	// AuditLog serves GET /admin/v1/audit (nil: the route is absent).
	Audit    AuditTrail
	AuditLog AuditReader
	// Compat holds the vendor-compatible routes of each provider that has
	// them (providers.*.compat), served under /{provider}/.
	Compat map[string]*config.Compat
	// Providers describes each provider for GET /v1/providers.
	Providers map[string]ProviderInfo
}

// Metrics is what the gateway needs of internal/monitor.
type Metrics interface {
	// RecordHTTP counts one request by the route pattern that served it
	// ("" when none did), its method, status and duration.
	RecordHTTP(route, method string, status int, d time.Duration)
	// Handler serves the Prometheus exposition.
	Handler() http.Handler
}

// Gateway serves the HTTP API.
type Gateway struct {
	auth           Authenticator
	lookups        *lookup.Service
	quota          QuotaReporter
	seen           *seenThrottle
	ready          map[string]Checker
	degradable     map[string]Checker
	log            *slog.Logger
	logIndicators  bool
	maxBodyBytes   int64
	requestTimeout time.Duration
	now            func() time.Time
	mux            *http.ServeMux
	proxies        auth.Proxies
	authFails      *authFailures
	metrics        Metrics
	metricsOnMain  bool
	audit          AuditTrail
	auditReader    AuditReader
	operator       Operator
	keyAges        KeyAges
	alerts         Alerts
	jobs           Jobs
	jobsBodyBytes  int64
	dlq            DeadLetters
	webhooks       Webhooks
	webhookBytes   int64
	compat         map[string]*config.Compat
	providerInfo   map[string]ProviderInfo
}

// New validates o and builds the Gateway.
func New(o Options) (*Gateway, error) {
	if o.Auth == nil || o.Lookups == nil {
		return nil, errors.New("gateway: Auth and Lookups are required")
	}
	g := &Gateway{
		auth:           o.Auth,
		lookups:        o.Lookups,
		quota:          o.Quota,
		ready:          o.Ready,
		degradable:     o.Degradable,
		log:            o.Log,
		logIndicators:  o.LogIndicators,
		maxBodyBytes:   o.MaxBodyBytes,
		requestTimeout: o.RequestTimeout,
		now:            clock.Or(o.Clock).Now,
		metrics:        o.Metrics,
		metricsOnMain:  o.MetricsOnMain,
		audit:          o.Audit,
		auditReader:    o.AuditLog,
		operator:       o.Operator,
		keyAges:        o.KeyAges,
		alerts:         o.Alerts,
		jobs:           o.Jobs,
		jobsBodyBytes:  o.JobsMaxBodyBytes,
		dlq:            o.DeadLetters,
		webhooks:       o.Webhooks,
		webhookBytes:   o.WebhooksMaxBodyBytes,
		compat:         o.Compat,
		providerInfo:   o.Providers,
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.maxBodyBytes <= 0 {
		g.maxBodyBytes = int64(config.DefaultMaxBodyBytes)
	}
	g.proxies = auth.NewProxies(o.TrustedProxies)
	g.authFails = newAuthFailures(authFailureDefaults(o.AuthFailures), g.now, g.log)
	if o.Seen != nil {
		g.seen = newSeenThrottle(o.Seen, time.Minute, g.log)
	}
	g.routes()
	return g, nil
}

func (g *Gateway) routes() {
	mux := http.NewServeMux()
	handle := mux.Handle
	handle("GET /healthz", http.HandlerFunc(g.handleHealthz))
	handle("GET /readyz", http.HandlerFunc(g.handleReadyz))
	handle("GET /v1/resolve", g.authenticated(http.HandlerFunc(g.handleResolve)))
	handle("GET /v1/lookup", g.authenticated(http.HandlerFunc(g.handleLookup)))
	handle("GET /v1/quota", g.authenticated(http.HandlerFunc(g.handleQuota)))
	handle("GET /v1/providers", g.authenticated(http.HandlerFunc(g.handleProviders)))
	// Refused before the body is read: a non-admin learns nothing about
	// what it names.
	handle("POST /admin/v1/cache/purge", g.authenticated(g.adminOnly(http.HandlerFunc(g.handlePurge))))
	if g.auditReader != nil {
		handle("GET /admin/v1/audit", g.authenticated(g.adminOnly(http.HandlerFunc(g.handleAudit))))
	}
	g.adminActions(handle)
	g.alertRoutes(handle)
	g.jobRoutes(handle)
	g.dlqRoutes(handle)
	g.webhookRoutes(handle)
	g.compatRoutes(handle)
	if g.metrics != nil && g.metricsOnMain {
		handle("GET /metrics", g.authenticated(g.adminOnly(g.metrics.Handler())))
	}
	mux.HandleFunc("/", g.handleNotFound)
	g.mux = mux
}

// Handler returns the complete HTTP handler with its middleware.
func (g *Gateway) Handler() http.Handler {
	return g.withRequestContext(securityHeaders(g.limitBody(strictRequest(g.methodCheck(g.mux)))))
}

// adminOnly refuses clients without admin: true.
func (g *Gateway) adminOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !identityFrom(r.Context()).Admin {
			writeProblem(w, r, failureProblem(&lookup.Failure{Kind: lookup.KindAdminRequired,
				Detail: "this endpoint is for clients with admin: true"}))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ProviderNames lists the configured providers in result order.
func (g *Gateway) ProviderNames() []string { return g.lookups.Providers() }

// limitBody caps request bodies: server.max_body_bytes, except a job
// submission's (jobs.max_body_bytes), the one endpoint that takes many
// indicators at once. Neither is read before the client authenticated.
func (g *Gateway) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit, setting := g.maxBodyBytes, "server.max_body_bytes"
		switch {
		case g.jobs != nil && g.jobsBodyBytes > 0 && r.Method == http.MethodPost && r.URL.Path == "/v1/jobs":
			limit, setting = g.jobsBodyBytes, "jobs.max_body_bytes"
		case g.webhooks != nil && g.webhookBytes > 0 && r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v1/webhooks/"):
			// Each provider's own cap applies in the handler.
			limit, setting = g.webhookBytes, "providers.*.webhooks.max_body_bytes"
		}
		if r.ContentLength > limit {
			writeProblem(w, r, newProblem(kindRequestTooLarge, fmt.Sprintf("the request body is larger than this gateway accepts (%s: %d bytes)", setting, limit)))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}

// strictRequest refuses what the mux would otherwise bend: an unclean path
// (the mux answers it with a redirect, which API clients should never have
// to follow), a malformed query string (silently dropped parameters would
// read as "missing"), and HEAD on the API (it would spend upstream quota on
// an answer nobody receives).
func strictRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == "" || p[0] != '/' || path.Clean(p) != p {
			writeProblem(w, r, newProblem(kindNotFound, "no such endpoint (the path is not in canonical form)"))
			return
		}
		if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
			writeProblem(w, r, newProblem(kindInvalidParameter, "malformed query string: "+err.Error()))
			return
		}
		if r.Method == http.MethodHead && strings.HasPrefix(r.URL.Path, "/v1/") {
			w.Header().Set("Allow", "GET")
			writeProblem(w, r, newProblem(kindMethodNotAllowed, "HEAD is not allowed on "+r.URL.Path+"; use GET"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// methodCheck answers a wrong method on a known path with a problem: the
// catch-all "/" route would otherwise call it a 404. Every route is GET.
func (g *Gateway) methodCheck(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			probe := r.Clone(r.Context())
			probe.Method = http.MethodGet
			if _, p := g.mux.Handler(probe); p != "/" {
				w.Header().Set("Allow", "GET")
				writeProblem(w, r, newProblem(kindMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (g *Gateway) handleNotFound(w http.ResponseWriter, r *http.Request) {
	writeProblem(w, r, newProblem(kindNotFound, "no such endpoint: "+r.URL.Path))
}

// identityFrom is the authenticated caller, as the lookup service takes it;
// zero before authenticated has admitted the request.
func identityFrom(ctx context.Context) lookup.Identity {
	if s := stateFrom(ctx); s != nil {
		return s.identity
	}
	return lookup.Identity{}
}

func identityOf(c *auth.Client, addr netip.Addr, requestID string) lookup.Identity {
	return lookup.Identity{Client: c.Name, Environment: c.Environment, Providers: c.Providers,
		Source: addr, RequestID: requestID, Markings: c.Markings, AllowRefresh: c.AllowRefresh, Admin: c.Admin}
}

// authenticated admits a request only with a valid token from an allowed
// source. Every token failure is the same 401: the response never says
// whether the token was missing, malformed or unknown.
//
// A source (the client address after trusted_proxies, IPv6 by /64) with
// too many recent failures has its further failures answered 429 until its
// window ends, and counted, not logged one by one. A valid token from that
// source is still admitted: tokens are 256 random bits, so the block is not
// what stops guessing — it bounds the work and the log lines a flood costs
// — and refusing valid tokens would let anyone sharing an address (a NAT,
// an IPv6 /64, an untrusted CDN edge) lock a real client out with ten bad
// requests a minute.
func (g *Gateway) authenticated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := stateFrom(r.Context()) // withRequestContext's
		info := &st.info
		src, _ := g.proxies.ClientIP(r) // invalid when unknown: tracked as one "unknown" source
		c, addr, err := g.auth.Authenticate(r)
		if err != nil {
			if wait, blocked := g.authFails.blocked(src); blocked {
				info.quiet = true // counted in the aggregated auth failure log instead
				if b, ok := g.audit.(BlockedCounter); ok {
					b.AuthBlocked(src) // not audited one by one, but the alert rules count it
				}
				p := newProblem(kindAuthFailures, "too many failed authentication attempts from this address; retry later")
				p.retryAfter = wait
				writeProblem(w, r, p)
				return
			}
		}
		switch {
		case errors.Is(err, auth.ErrSourceNotAllowed) && c != nil:
			// Counted like a bad token (a stolen token tried from outside
			// its networks is a failure too), but logged one line each:
			// it names the client, and the block bounds it to
			// server.auth_failures.max lines per source per window.
			g.authFailed(src, st.id)
			info.client = c.Name
			g.auditAuthFailure(src, audit.AuthSourceNotAllowed, c.Name, st.id)
			g.log.Warn("security event: client token used from a source outside its source_cidrs",
				"event", "source_not_allowed", "client", c.Name, "source", addr.String(),
				"request_id", requestID(r.Context()), "error", err.Error())
			writeProblem(w, r, newProblem(kindSourceNotAllowed, "this client may not call from "+addr.String()))
			return
		case err != nil:
			// Not logged here: one line per failure is what a flood turns
			// into gigabytes. The tracker logs one line per source per
			// interval with the count (Run).
			g.authFailed(src, st.id)
			info.quiet = true
			reason, client := audit.AuthUnknownToken, ""
			switch {
			case errors.Is(err, auth.ErrNoToken):
				reason = audit.AuthNoToken
			case errors.Is(err, auth.ErrClientDisabled) && c != nil:
				// The token is valid: which client was turned away is
				// the record's point. The answer is the same 401.
				reason, client = audit.AuthClientDisabled, c.Name
			}
			g.auditAuthFailure(src, reason, client, st.id)
			writeProblem(w, r, newProblem(kindUnauthenticated, "a valid gateway token is required: Authorization: Bearer <token>"))
			return
		}
		info.client = c.Name
		if g.seen != nil {
			g.seen.touch(c.Name, addr.String(), g.now())
		}
		// The request's own state, not a new context layer: everything
		// after this point runs behind this check, and nothing before it
		// reads the identity.
		st.identity = identityOf(c, addr, st.id)
		next.ServeHTTP(w, r)
	})
}

// authFailed counts a failure of src; the failure that blocks it is
// audited (a block is a security event: someone is guessing tokens, or a
// client is misconfigured) and reported to the alert engine.
func (g *Gateway) authFailed(src netip.Addr, requestID string) {
	if blocked, _ := g.authFails.fail(src); blocked {
		g.auditAuthFailure(src, audit.AuthSourceBlocked, "", requestID)
	}
}

// auditAuthFailure records a refused authentication. Failures refused
// while their source is blocked are not recorded one by one (they are
// counted in the aggregated auth failure log); the recorder bounds the
// rest to a budget per second across all sources, since a flood can come
// from as many addresses as its sender holds.
func (g *Gateway) auditAuthFailure(src netip.Addr, reason, client, requestID string) {
	if g.audit != nil {
		g.audit.AuthFailed(src, reason, client, requestID)
	}
}

// Run does the gateway's background work until ctx ends: it writes the
// aggregated authentication failure log every log interval, and once more
// on the way out, and records clients' last-seen times. Call it beside
// Serve with the serving context; it returns when ctx is done and its work
// is written, so it leaves no goroutine behind.
func (g *Gateway) Run(ctx context.Context) {
	var wg sync.WaitGroup
	if g.seen != nil {
		wg.Go(func() { g.seen.run(ctx) })
	}
	t := time.NewTicker(g.authFails.lim.LogInterval)
	defer t.Stop()
	g.authFails.run(ctx, t.C)
	wg.Wait()
}

// authFailureDefaults fills zero fields from the config defaults, so a
// Gateway built without config (tests, embedding) is still protected.
func authFailureDefaults(l AuthFailureLimits) AuthFailureLimits {
	if l.Max <= 0 {
		l.Max = config.DefaultAuthFailureMax
	}
	if l.Window <= 0 {
		l.Window = config.DefaultAuthFailureWindow.Std()
	}
	if l.MaxSources <= 0 {
		l.MaxSources = config.DefaultAuthFailureMaxSources
	}
	if l.LogInterval <= 0 {
		l.LogInterval = config.DefaultAuthFailureLogInterval.Std()
	}
	return l
}

// AuthFailureLimitsFrom maps server.auth_failures.
func AuthFailureLimitsFrom(a config.AuthFailures) AuthFailureLimits {
	return AuthFailureLimits{Max: a.Max, Window: a.Window.Std(), MaxSources: a.MaxSources,
		LogInterval: a.LogInterval.Std()}
}
