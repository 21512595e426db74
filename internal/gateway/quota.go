package gateway

import (
	"context"
	"net/http"

	"github.com/intelgate/intelgate/internal/govern"
)

// QuotaReporter reports remaining allowances without spending them.
type QuotaReporter interface {
	ProviderStatus(ctx context.Context, provider, environment string) ([]govern.KeyStatus, error)
	ClientStatus(ctx context.Context, client string) (govern.ClientStatus, error)
	// BreakerState is "closed", "open" or "half-open".
	BreakerState(provider string) string
}

// QuotaResponse is the body of GET /v1/quota.
type QuotaResponse struct {
	Client    ClientQuota     `json:"client"`
	Providers []ProviderQuota `json:"providers"`
}

// ClientQuota is the caller's own allowance.
type ClientQuota struct {
	Name        string `json:"name"`
	Environment string `json:"environment"`
	govern.ClientStatus
}

// ProviderQuota is one permitted provider's state for the caller's
// environment: only that environment's keys, by id.
type ProviderQuota struct {
	Provider string             `json:"provider"`
	Breaker  string             `json:"breaker"`
	Keys     []govern.KeyStatus `json:"keys"`
}

// handleQuota answers what the caller may still spend: its own allowance
// and, per permitted provider, each key's rate, day/month quota, pause and
// the breaker state. It spends nothing.
func (g *Gateway) handleQuota(w http.ResponseWriter, r *http.Request) {
	id := identityFrom(r.Context())
	if g.quota == nil {
		writeProblem(w, r, newProblem(kindNotFound, "quota reporting is not configured"))
		return
	}
	resp := QuotaResponse{Client: ClientQuota{Name: id.Client, Environment: id.Environment}, Providers: []ProviderQuota{}}
	cs, err := g.quota.ClientStatus(r.Context(), id.Client)
	if err != nil {
		writeProblem(w, r, failureProblem(g.lookups.Classify(r.Context(), id, "", err)))
		return
	}
	resp.Client.ClientStatus = cs
	for _, name := range g.lookups.Providers() {
		if !id.Allows(name) {
			continue
		}
		keys, err := g.quota.ProviderStatus(r.Context(), name, id.Environment)
		if err != nil {
			writeProblem(w, r, failureProblem(g.lookups.Classify(r.Context(), id, name, err)))
			return
		}
		if keys == nil {
			keys = []govern.KeyStatus{}
		}
		resp.Providers = append(resp.Providers, ProviderQuota{Provider: name, Breaker: g.quota.BreakerState(name), Keys: keys})
	}
	writeJSON(w, http.StatusOK, resp)
}
