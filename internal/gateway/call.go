package gateway

import (
	"context"
	"net/http"

	"github.com/intelgate/intelgate/internal/auth"
	"github.com/intelgate/intelgate/internal/provider"
)

// call runs one provider lookup for client. Everything between here and the
// upstream — coalescing, governor, breaker, retries, transport — is the
// Caller's; the gateway only maps its outcome to the HTTP contract.
func (g *Gateway) call(ctx context.Context, name string, client *auth.Client, req provider.Request) (provider.Result, *Problem) {
	res, err := g.caller.Call(ctx, name, client.Environment, req)
	if err != nil {
		return provider.Result{}, g.upstreamProblem(ctx, name, err)
	}
	return res, nil
}

// admitted enforces the client's own rate and daily quota before any work:
// a client over its allowance is told when to come back, at once.
func (g *Gateway) admitted(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.admit != nil {
			if err := g.admit.AdmitClient(r.Context(), clientFrom(r.Context()).Name); err != nil {
				writeProblem(w, r, g.upstreamProblem(r.Context(), "", err))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
