package gateway

import (
	"context"

	"github.com/intelgate/intelgate/internal/auth"
	"github.com/intelgate/intelgate/internal/provider"
)

// call runs one provider lookup for client with the key of the client's
// environment. This is the seam where the later layers (cache, coalescing,
// governor, breaker, retry) slot in, in the order DESIGN.md gives.
func (g *Gateway) call(ctx context.Context, name string, client *auth.Client, req provider.Request) (provider.Result, *Problem) {
	p := g.providers[name]
	keyID, key, ok := g.keys.Key(name, client.Environment)
	if !ok {
		return provider.Result{}, g.upstreamProblem(ctx, name, "", errNoKey)
	}
	res, err := p.Lookup(ctx, req, key)
	if err != nil {
		return provider.Result{}, g.upstreamProblem(ctx, name, keyID, err)
	}
	return res, nil
}
