package gateway

import (
	"net/http"

	"github.com/intelgate/intelgate/internal/indicator"
)

// ProviderInfo is what GET /v1/providers says of a provider that does not
// change while it runs (its configuration).
type ProviderInfo struct {
	Kind   string           `json:"kind"`             // socialeye | http
	Preset string           `json:"preset,omitempty"` // the preset it was built from
	Types  []indicator.Type `json:"types"`
	MaxTLP string           `json:"max_tlp"`
	MaxPAP string           `json:"max_pap"`
	Cache  ProviderCache    `json:"cache"`
	// Compat is the path prefix of its vendor-compatible routes ("" when
	// it has none).
	Compat string `json:"compat,omitempty"`
}

// ProviderCache is a provider's cache policy, in seconds.
type ProviderCache struct {
	Enabled            bool  `json:"enabled"`
	TTLSeconds         int64 `json:"ttl_seconds"`
	NegativeTTLSeconds int64 `json:"negative_ttl_seconds"`
}

// ProvidersResponse is the body of GET /v1/providers.
type ProvidersResponse struct {
	Providers []ProviderEntry `json:"providers"`
}

// ProviderEntry is one provider the caller may use: its capabilities and
// whether it can answer now. Healthy means its breaker is not open and at
// least one key of the caller's environment is neither revoked nor
// paused: a lookup now would be sent.
type ProviderEntry struct {
	Name string `json:"name"`
	ProviderInfo
	Healthy bool   `json:"healthy"`
	Breaker string `json:"breaker,omitempty"`
	// UsableKeys counts the keys of the caller's environment that are
	// neither revoked nor paused.
	UsableKeys int `json:"usable_keys"`
}

// handleProviders is GET /v1/providers: the caller's permitted providers,
// in result order. Nothing secret is in it: no key ids, no base URLs.
func (g *Gateway) handleProviders(w http.ResponseWriter, r *http.Request) {
	id := identityFrom(r.Context())
	resp := ProvidersResponse{Providers: []ProviderEntry{}}
	now := g.now()
	for _, name := range g.lookups.Providers() {
		if !id.Allows(name) {
			continue
		}
		e := ProviderEntry{Name: name, ProviderInfo: g.providerInfo[name]}
		if e.Types == nil {
			e.Types = []indicator.Type{}
		}
		if g.quota != nil {
			e.Breaker = g.quota.BreakerState(name)
			keys, err := g.quota.ProviderStatus(r.Context(), name, id.Environment)
			if err != nil {
				writeProblem(w, r, failureProblem(g.lookups.Classify(r.Context(), id, name, err)))
				return
			}
			for _, k := range keys {
				if !k.Revoked && (k.PausedUntil == nil || !k.PausedUntil.After(now)) {
					e.UsableKeys++
				}
			}
			e.Healthy = e.Breaker != "open" && e.UsableKeys > 0
		}
		resp.Providers = append(resp.Providers, e)
	}
	writeJSON(w, http.StatusOK, resp)
}
