package gateway

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

// upstreamProblem maps a failure of the call chain to the problem the client
// sees. Details name the provider and the failed check, never a key, URL or
// body. providerName is empty for client-scope failures.
func (g *Gateway) upstreamProblem(ctx context.Context, providerName string, err error) *Problem {
	if p := g.chainProblem(providerName, err); p != nil {
		return p
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		// The client went away; nothing failed upstream and nobody reads
		// this answer.
		g.log.Info("client closed the request", "provider", providerName, "request_id", requestID(ctx))
		return newProblem(problemKind{"client-closed", 499, "Client closed the request"}, "")
	}
	var ue *upstream.Error
	if !errors.As(err, &ue) {
		if errors.Is(err, context.DeadlineExceeded) {
			return newProblem(kindUpTimeout, fmt.Sprintf("provider %s did not answer in time", providerName))
		}
		g.log.Error("lookup failed", "provider", providerName, "request_id", requestID(ctx), "error", err)
		return newProblem(kindInternal, "an internal error occurred; quote the request id to your operator")
	}
	level := slog.LevelWarn
	var p *Problem
	switch ue.Kind {
	case upstream.KindTLS:
		level = slog.LevelError
		p = newProblem(kindUpTLS, fmt.Sprintf("provider %s: %s", providerName, ue.Detail))
	case upstream.KindConnect:
		p = newProblem(kindUpUnavailable, fmt.Sprintf("provider %s: %s", providerName, ue.Detail))
	case upstream.KindTimeout:
		p = newProblem(kindUpTimeout, fmt.Sprintf("provider %s: %s", providerName, ue.Detail))
	case upstream.KindCredentialLeak:
		level = slog.LevelError // the pipeline has logged the security event
		p = newProblem(kindUpInvalid, fmt.Sprintf("provider %s: %s", providerName, ue.Detail))
	case upstream.KindTooLarge, upstream.KindContentType, upstream.KindMalformed, upstream.KindSchema:
		p = newProblem(kindUpInvalid, fmt.Sprintf("provider %s: %s", providerName, ue.Detail))
	case upstream.KindAuth:
		// The call chain has logged the security event with the key id.
		detail := fmt.Sprintf("provider %s rejected the gateway's credentials; the operator has been alerted", providerName)
		if ue.Status == http.StatusForbidden {
			// Often about the resource (a plan-limited endpoint, a WAF
			// rule), not the key: the call chain checks the key apart.
			detail = fmt.Sprintf("provider %s refused this request (403 Forbidden); the operator has been alerted", providerName)
		}
		p = newProblem(kindUpAuth, detail)
	case upstream.KindRateLimited:
		p = newProblem(kindUpRateLimited, fmt.Sprintf("provider %s is rate limiting; retry later", providerName))
		p.retryAfter = ue.RetryAfter
	case upstream.KindNotFound:
		p = newProblem(kindNotFound, fmt.Sprintf("provider %s has no data for this indicator", providerName))
	default:
		p = newProblem(kindUpError, fmt.Sprintf("provider %s: %s", providerName, ue.Detail))
	}
	if ctx.Err() != nil && errors.Is(ue.Err, context.Canceled) {
		g.log.Info("client closed the request", "provider", providerName, "request_id", requestID(ctx))
		return p
	}
	if ue.Kind != upstream.KindAuth && ue.Kind != upstream.KindNotFound {
		g.log.Log(ctx, level, "upstream call failed", "provider", providerName, "kind", string(ue.Kind),
			"upstream_status", ue.Status, "detail", ue.Detail, "request_id", requestID(ctx))
	}
	return p
}

// chainProblem maps the failures the gateway's own layers produce: pacing,
// key pool, circuit breaker, unsafe input.
func (g *Gateway) chainProblem(providerName string, err error) *Problem {
	var limited *govern.LimitedError
	var open *resilience.OpenError
	var unsafe *provider.UnsafeIndicatorError
	switch {
	case errors.As(err, &unsafe):
		// The reason is one of the provider's fixed phrases; it never
		// quotes the value.
		return paramProblem("indicator", fmt.Sprintf("provider %s cannot place this value in its request path: it %s", providerName, unsafe.Reason))
	case errors.Is(err, provider.ErrUnsafeIndicator):
		return paramProblem("indicator", fmt.Sprintf("provider %s cannot look up this value safely", providerName))
	case errors.As(err, &limited):
		// The client's own allowance, or a provider's: same shape, its own type.
		kind := kindUpRateLimited
		if limited.Scope == "client" {
			kind = kindRateLimited
		}
		p := newProblem(kind, fmt.Sprintf("%s %s: %s reached; retry after %s", limited.Scope, limited.Name,
			limitReason(limited.Reason), roundUp(limited.RetryAfter)))
		p.retryAfter = limited.RetryAfter
		return p
	case errors.As(err, &open): // the only error matching resilience.ErrOpen
		p := newProblem(kindUnavailable, fmt.Sprintf("provider %s is failing; its circuit breaker is open", providerName))
		p.retryAfter = open.RetryAfter
		return p
	case errors.Is(err, govern.ErrNoKeys):
		return newProblem(kindUnavailable, fmt.Sprintf("provider %s has no usable key for this client's environment (revoked by the upstream, or none configured)", providerName))
	case errors.Is(err, govern.ErrUnavailable):
		p := newProblem(kindUnavailable, "the shared rate-limit state is unreachable; refusing to call upstream unpaced")
		p.retryAfter = time.Second
		return p
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

func roundUp(d time.Duration) string {
	return (time.Duration(retryAfterSeconds(d)) * time.Second).String()
}
