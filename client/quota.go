package client

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// QuotaResponse is the answer of GET /v1/quota: what the caller may still
// spend. Asking spends nothing.
type QuotaResponse struct {
	Client    ClientQuota     `json:"client"`
	Providers []ProviderQuota `json:"providers"`
	RequestID string          `json:"-"`
}

// ClientQuota is the caller's own allowance at the gateway; nil parts are
// unlimited.
type ClientQuota struct {
	Name        string      `json:"name"`
	Environment string      `json:"environment"`
	Rate        *RateStatus `json:"rate"`
	Day         *Usage      `json:"day"`
	Month       *Usage      `json:"month"`
	// Age is how old the key's secret is, when the gateway knows.
	Age *KeyAge `json:"age"`
}

// KeyAge is how old a key's secret is: since ChangedAt (Source: "vault"
// or "awssm" — the secret store said — or "rotated_at" in the gateway's
// config), and when it is due for rotation.
type KeyAge struct {
	ChangedAt time.Time `json:"changed_at"`
	Days      int       `json:"days"`
	RotateBy  time.Time `json:"rotate_by"`
	Source    string    `json:"source"`
}

// ProviderQuota is one provider the caller may use, with each key of the
// caller's environment (by id) and the provider's circuit breaker state
// ("closed", "open" or "half-open").
type ProviderQuota struct {
	Provider string      `json:"provider"`
	Breaker  string      `json:"breaker"`
	Keys     []KeyStatus `json:"keys"`
}

// KeyStatus is one upstream key's state; nil parts are unlimited.
type KeyStatus struct {
	ID          string      `json:"id"`
	Revoked     bool        `json:"revoked"`
	PausedUntil *time.Time  `json:"paused_until"`
	Rate        *RateStatus `json:"rate"`
	Day         *Usage      `json:"day"`
	Month       *Usage      `json:"month"`
}

// RateStatus is a rate limit and the units available now. Burst is the
// burst the gateway enforces; for a provider it keeps a little headroom
// below the configured limit, so ConfiguredBurst is the burst as
// configured (equal to Burst when there is no headroom).
type RateStatus struct {
	Rate            int     `json:"rate"`
	PerSecond       float64 `json:"per_second"`
	Period          string  `json:"period"`
	Burst           int     `json:"burst"`
	ConfiguredBurst int     `json:"configured_burst"`
	Remaining       int     `json:"remaining"`
}

// Usage is a calendar quota.
type Usage struct {
	Limit     int64     `json:"limit"`
	Used      int64     `json:"used"`
	Remaining int64     `json:"remaining"`
	ResetsAt  time.Time `json:"resets_at"`
}

// Quota asks what the caller may still spend (GET /v1/quota).
func (c *Client) Quota(ctx context.Context) (*QuotaResponse, error) {
	rep, err := c.get(ctx, "v1/quota", nil)
	if err != nil {
		return nil, fmt.Errorf("quota: %w", err)
	}
	var out QuotaResponse
	if err := json.Unmarshal(rep.body, &out); err != nil {
		return nil, fmt.Errorf("quota: decoding response: %w", err)
	}
	out.RequestID = rep.header.Get("X-Request-Id")
	return &out, nil
}
