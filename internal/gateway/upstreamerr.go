package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/intelgate/intelgate/internal/provider"
	"github.com/intelgate/intelgate/internal/upstream"
)

// errNoKey means no upstream key exists for the client's environment.
var errNoKey = errors.New("no upstream key for this environment")

// upstreamProblem maps a provider failure to the problem the client sees.
// Details name the provider and the failed check, never a key, URL or body.
func (g *Gateway) upstreamProblem(ctx context.Context, providerName, keyID string, err error) *Problem {
	var ue *upstream.Error
	if errors.Is(err, provider.ErrUnsafeIndicator) {
		p := newProblem(kindInvalidParameter, fmt.Sprintf("provider %s cannot look up this value safely (it would form a . or .. path segment)", providerName))
		p.Parameter = "indicator"
		return p
	}
	if errors.Is(err, errNoKey) {
		return newProblem(kindUnavailable, fmt.Sprintf("provider %s has no key for this client's environment", providerName))
	}
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
	case upstream.KindTooLarge, upstream.KindContentType, upstream.KindMalformed, upstream.KindSchema:
		p = newProblem(kindUpInvalid, fmt.Sprintf("provider %s: %s", providerName, ue.Detail))
	case upstream.KindAuth:
		// The upstream refused our key: revoked, expired or wrong. That is
		// a security event for the operator, not something the client can fix.
		level = slog.LevelError
		g.log.Error("security event: upstream rejected the gateway's key",
			"event", "upstream_auth_rejected", "provider", providerName, "key_id", keyID,
			"upstream_status", ue.Status, "request_id", requestID(ctx))
		p = newProblem(kindUpAuth, fmt.Sprintf("provider %s rejected the gateway's credentials; the operator has been alerted", providerName))
	case upstream.KindRateLimited:
		p = newProblem(kindUpRateLimited, fmt.Sprintf("provider %s is rate limiting; retry later", providerName))
		p.retryAfter = ue.RetryAfter
	case upstream.KindNotFound:
		p = newProblem(kindNotFound, fmt.Sprintf("provider %s has no data for this indicator", providerName))
	default:
		p = newProblem(kindUpError, fmt.Sprintf("provider %s: %s", providerName, ue.Detail))
	}
	if ue.Kind != upstream.KindAuth && ue.Kind != upstream.KindNotFound {
		g.log.Log(ctx, level, "upstream call failed", "provider", providerName, "kind", string(ue.Kind),
			"upstream_status", ue.Status, "detail", ue.Detail, "request_id", requestID(ctx))
	}
	return p
}
