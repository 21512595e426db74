package lookup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/provider"
	"github.com/intelgate/intelgate/internal/resilience"
	"github.com/intelgate/intelgate/internal/upstream"
)

// Kind is what went wrong, as a stable slug: the problem type of the HTTP
// API (docs/api.md), and the label metrics, audit and job results use.
type Kind string

const (
	KindInvalidParameter    Kind = "invalid-parameter"
	KindUnknownProvider     Kind = "unknown-provider"
	KindUnsupportedType     Kind = "unsupported-type"
	KindForbidden           Kind = "forbidden"
	KindNotFound            Kind = "not-found"
	KindRateLimited         Kind = "rate-limited" // the client's own allowance
	KindUpstreamRateLimited Kind = "upstream-rate-limited"
	KindUpstreamTLS         Kind = "upstream-tls"
	KindUpstreamUnavailable Kind = "upstream-unavailable"
	KindUpstreamInvalid     Kind = "upstream-invalid-response"
	KindUpstreamAuth        Kind = "upstream-auth"
	KindUpstreamError       Kind = "upstream-error"
	KindUpstreamTimeout     Kind = "upstream-timeout"
	KindUnavailable         Kind = "unavailable"
	KindInternal            Kind = "internal"
	// KindClientClosed: the caller left before the answer; nothing failed.
	KindClientClosed Kind = "client-closed"
	// KindWithheld: query minimisation kept the query from the provider.
	KindWithheld Kind = "indicator-withheld"
	// KindRefreshForbidden: the client asked past the cache without
	// allow_refresh.
	KindRefreshForbidden Kind = "refresh-not-allowed"
	// KindAdminRequired: an administrative operation by a client without
	// admin: true.
	KindAdminRequired Kind = "admin-required"
)

// Kinds lists every Kind, for the transports that must map each one.
func Kinds() []Kind {
	return []Kind{KindInvalidParameter, KindUnknownProvider, KindUnsupportedType, KindForbidden, KindNotFound,
		KindRateLimited, KindUpstreamRateLimited, KindUpstreamTLS, KindUpstreamUnavailable, KindUpstreamInvalid,
		KindUpstreamAuth, KindUpstreamError, KindUpstreamTimeout, KindUnavailable, KindInternal, KindClientClosed,
		KindWithheld, KindRefreshForbidden, KindAdminRequired}
}

// Failure is a classified failure: what the caller is told. Detail names
// the provider and the failed check, never a key, URL or body. As an error
// it is a request-level refusal.
type Failure struct {
	Kind   Kind
	Detail string
	// Parameter names the request field to fix, when there is one.
	Parameter string
	// RetryAfter is when trying again can help (0: no estimate).
	RetryAfter time.Duration
}

func (f *Failure) Error() string { return string(f.Kind) + ": " + f.Detail }

func newFailure(k Kind, detail string) *Failure { return &Failure{Kind: k, Detail: detail} }

func paramFailure(param, detail string) *Failure {
	return &Failure{Kind: KindInvalidParameter, Detail: param + ": " + detail, Parameter: param}
}

func internalFailure() *Failure {
	return newFailure(KindInternal, "an internal error occurred; quote the request id to your operator")
}

func classifyLookup(ctx context.Context, s *Service, id Identity, name string, err error) *Failure {
	return s.Classify(ctx, id, name, err)
}

// classifyResolve: on a pass-through the client's own parameters went
// upstream, so a 400 from the provider is the client's to fix, not an
// outage.
func classifyResolve(ctx context.Context, s *Service, id Identity, name string, err error) *Failure {
	var ue *upstream.Error
	if errors.As(err, &ue) && ue.Kind == upstream.KindRejected && ue.Status == http.StatusBadRequest {
		return paramFailure("type", "provider "+name+" rejected the request's parameters (400 Bad Request); check query and type")
	}
	return s.Classify(ctx, id, name, err)
}

// Classify classifies an error of the call chain — the one place that
// interprets governor, breaker, provider and upstream errors — and logs
// what the operator must see. providerName is "" for client-scope
// failures (the client's own allowance).
func (s *Service) Classify(ctx context.Context, id Identity, providerName string, err error) *Failure {
	if f := chainFailure(providerName, err); f != nil {
		return f
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		// The client went away; nothing failed upstream and nobody reads
		// this answer.
		s.log.Info("client closed the request", "provider", providerName, "request_id", id.RequestID)
		return newFailure(KindClientClosed, "")
	}
	var ue *upstream.Error
	if !errors.As(err, &ue) {
		if errors.Is(err, context.DeadlineExceeded) {
			return newFailure(KindUpstreamTimeout, fmt.Sprintf("provider %s did not answer in time", providerName))
		}
		s.log.Error("lookup failed", "provider", providerName, "request_id", id.RequestID, "error", err)
		return internalFailure()
	}
	level := slog.LevelWarn
	var f *Failure
	switch ue.Kind {
	case upstream.KindTLS:
		level = slog.LevelError
		f = newFailure(KindUpstreamTLS, fmt.Sprintf("provider %s: %s", providerName, ue.Detail))
	case upstream.KindConnect:
		f = newFailure(KindUpstreamUnavailable, fmt.Sprintf("provider %s: %s", providerName, ue.Detail))
	case upstream.KindTimeout:
		f = newFailure(KindUpstreamTimeout, fmt.Sprintf("provider %s: %s", providerName, ue.Detail))
	case upstream.KindCredentialLeak:
		level = slog.LevelError // the pipeline has logged the security event
		f = newFailure(KindUpstreamInvalid, fmt.Sprintf("provider %s: %s", providerName, ue.Detail))
	case upstream.KindTooLarge, upstream.KindContentType, upstream.KindMalformed, upstream.KindSchema:
		f = newFailure(KindUpstreamInvalid, fmt.Sprintf("provider %s: %s", providerName, ue.Detail))
	case upstream.KindAuth:
		// The call chain has logged the security event with the key id.
		detail := fmt.Sprintf("provider %s rejected the gateway's credentials; the operator has been alerted", providerName)
		if ue.Status == http.StatusForbidden {
			// Often about the resource (a plan-limited endpoint, a WAF
			// rule), not the key: the call chain checks the key apart.
			detail = fmt.Sprintf("provider %s refused this request (403 Forbidden); the operator has been alerted", providerName)
		}
		f = newFailure(KindUpstreamAuth, detail)
	case upstream.KindRateLimited:
		f = newFailure(KindUpstreamRateLimited, fmt.Sprintf("provider %s is rate limiting; retry later", providerName))
		f.RetryAfter = ue.RetryAfter
	case upstream.KindNotFound:
		f = newFailure(KindNotFound, fmt.Sprintf("provider %s has no data for this indicator", providerName))
	default:
		f = newFailure(KindUpstreamError, fmt.Sprintf("provider %s: %s", providerName, ue.Detail))
	}
	if ctx.Err() != nil && errors.Is(ue.Err, context.Canceled) {
		s.log.Info("client closed the request", "provider", providerName, "request_id", id.RequestID)
		return f
	}
	if ue.Kind != upstream.KindAuth && ue.Kind != upstream.KindNotFound {
		s.log.Log(ctx, level, "upstream call failed", "provider", providerName, "kind", string(ue.Kind),
			"upstream_status", ue.Status, "detail", ue.Detail, "request_id", id.RequestID)
	}
	return f
}

// chainFailure maps the failures the gateway's own layers produce: pacing,
// key pool, circuit breaker, unsafe input.
func chainFailure(providerName string, err error) *Failure {
	var limited *govern.LimitedError
	var open *resilience.OpenError
	var unsafe *provider.UnsafeIndicatorError
	var f *Failure
	switch {
	case errors.As(err, &f):
		return f
	case errors.As(err, &unsafe):
		// The reason is one of the provider's fixed phrases; it never
		// quotes the value.
		return paramFailure("indicator", fmt.Sprintf("provider %s cannot place this value in its request path: it %s", providerName, unsafe.Reason))
	case errors.Is(err, provider.ErrUnsafeIndicator):
		return paramFailure("indicator", fmt.Sprintf("provider %s cannot look up this value safely", providerName))
	case errors.As(err, &limited):
		// The client's own allowance, or a provider's: same shape, its own kind.
		kind := KindUpstreamRateLimited
		if limited.Scope == "client" {
			kind = KindRateLimited
		}
		f := newFailure(kind, fmt.Sprintf("%s %s: %s reached; retry after %s", limited.Scope, limited.Name,
			limitReason(limited.Reason), roundUp(limited.RetryAfter)))
		f.RetryAfter = limited.RetryAfter
		return f
	case errors.As(err, &open): // the only error matching resilience.ErrOpen
		f := newFailure(KindUnavailable, fmt.Sprintf("provider %s is failing; its circuit breaker is open", providerName))
		f.RetryAfter = open.RetryAfter
		return f
	case errors.Is(err, govern.ErrNoKeys):
		return newFailure(KindUnavailable, fmt.Sprintf("provider %s has no usable key for this client's environment (revoked by the upstream, or none configured)", providerName))
	case errors.Is(err, govern.ErrUnavailable):
		f := newFailure(KindUnavailable, "the shared rate-limit state is unreachable; refusing to call upstream unpaced")
		f.RetryAfter = time.Second
		return f
	}
	return nil
}

func limitReason(r string) string {
	switch r {
	case "rate":
		return "rate limit"
	case "day_quota":
		return "daily quota"
	case "month_quota":
		return "monthly quota"
	case "paused":
		return "upstream-requested pause"
	}
	return r
}

// roundUp renders d in whole seconds, rounded up as Retry-After is, so the
// detail and the header agree.
func roundUp(d time.Duration) string {
	return (time.Duration(RetrySeconds(d)) * time.Second).String()
}

// RetrySeconds is d in whole seconds for Retry-After, rounded up so a
// client that waits exactly that long is never early, and at least 1.
func RetrySeconds(d time.Duration) int64 {
	return max(int64((d+time.Second-1)/time.Second), 1)
}
