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
	req.Client = client.Name
	res, err := g.caller.Call(ctx, name, client.Environment, req)
	if err != nil {
		return provider.Result{}, g.upstreamProblem(ctx, name, err)
	}
	return res, nil
}

// admit takes a unit of the client's own rate and quota once the request
// is known to be valid (a malformed request costs the client nothing), and
// before any upstream work. A client over its allowance is told when to
// come back, at once; admit reports false after writing that answer.
func (g *Gateway) admit(w http.ResponseWriter, r *http.Request) bool {
	if g.admitter == nil {
		return true
	}
	if err := g.admitter.AdmitClient(r.Context(), clientFrom(r.Context()).Name); err != nil {
		writeProblem(w, r, g.upstreamProblem(r.Context(), "", err))
		return false
	}
	return true
}
