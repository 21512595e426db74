package gateway

import (
	"context"
	"net/http"
	"time"

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
	Provider string     `json:"provider"`
	Breaker  string     `json:"breaker"`
	Keys     []KeyQuota `json:"keys"`
}

// KeyQuota is one key's state and, when known, its age — never its secret.
type KeyQuota struct {
	govern.KeyStatus
	Age *KeyAge `json:"age,omitempty"`
}

// KeyAge is how old a key's secret is: since ChangedAt (Source says where
// that comes from: "vault" or "awssm" — the secret store — or
// "rotated_at" in config), and when rotation.period says it must be
// rotated.
type KeyAge struct {
	ChangedAt time.Time `json:"changed_at"`
	Days      int       `json:"days"`
	RotateBy  time.Time `json:"rotate_by"`
	Source    string    `json:"source"`
}

// KeyAges says how old each key is; consumed by /v1/quota.
type KeyAges interface {
	KeyAge(provider, keyID string) (KeyAge, bool)
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
		pq := ProviderQuota{Provider: name, Breaker: g.quota.BreakerState(name), Keys: make([]KeyQuota, len(keys))}
		for i, k := range keys {
			pq.Keys[i].KeyStatus = k
			if g.keyAges == nil {
				continue
			}
			if age, ok := g.keyAges.KeyAge(name, k.ID); ok {
				pq.Keys[i].Age = &age
			}
		}
		resp.Providers = append(resp.Providers, pq)
	}
	writeJSON(w, http.StatusOK, resp)
}
