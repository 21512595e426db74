package govern

import (
	"context"
	"fmt"
	"time"
)

// Usage is one calendar quota's state.
type Usage struct {
	Limit     int64     `json:"limit"`
	Used      int64     `json:"used"`
	Remaining int64     `json:"remaining"`
	ResetsAt  time.Time `json:"resets_at"`
}

// RateStatus is a rate limit's state.
type RateStatus struct {
	Rate      int     `json:"rate"`
	PerSecond float64 `json:"per_second"`
	Period    string  `json:"period"`
	Burst     int     `json:"burst"`
	Remaining int     `json:"remaining"`
}

// KeyStatus is one upstream key's state. It names the key by id only.
type KeyStatus struct {
	ID          string      `json:"id"`
	Revoked     bool        `json:"revoked"`
	PausedUntil *time.Time  `json:"paused_until,omitempty"`
	Rate        *RateStatus `json:"rate,omitempty"`
	Day         *Usage      `json:"day,omitempty"`
	Month       *Usage      `json:"month,omitempty"`
}

// ClientStatus is an application's own allowance.
type ClientStatus struct {
	Rate  *RateStatus `json:"rate,omitempty"`
	Day   *Usage      `json:"day,omitempty"`
	Month *Usage      `json:"month,omitempty"`
}

func rateStatus(l Limit, d Decision) *RateStatus {
	if l.Unlimited() {
		return nil
	}
	return &RateStatus{Rate: l.Rate, PerSecond: float64(l.Rate) / l.Period.Seconds(), Period: l.Period.String(),
		Burst: max(1, l.Burst), Remaining: d.Remaining}
}

func usages(ctx context.Context, st QuotaCounter, ws []Window) ([]*Usage, error) {
	used, err := st.Used(ctx, ws)
	if err != nil {
		return nil, err
	}
	out := make([]*Usage, len(ws))
	for i, w := range ws {
		out[i] = &Usage{Limit: w.Limit, Used: min(used[i], w.Limit), Remaining: max(0, w.Limit-used[i]), ResetsAt: w.Expires.UTC()}
	}
	return out, nil
}

// ProviderStatus reports every key of environment env without taking units.
func (g *Governor) ProviderStatus(ctx context.Context, provider, env string) ([]KeyStatus, error) {
	p, ok := g.policies[provider]
	if !ok {
		return nil, fmt.Errorf("status of %q: %w", provider, ErrUnknownProvider)
	}
	now := g.clock.Now()
	var out []KeyStatus
	for _, k := range p.Keys {
		if k.Environment != env {
			continue
		}
		ks := KeyStatus{ID: k.ID}
		revoked, err := g.state.PausedUntil(ctx, revokedKey(provider, k))
		if err != nil {
			return nil, err
		}
		ks.Revoked = revoked.After(now)
		paused, err := g.state.PausedUntil(ctx, pauseKey(provider, k.ID))
		if err != nil {
			return nil, err
		}
		if paused.After(now) {
			u := paused.UTC()
			ks.PausedUntil = &u
		}
		if !p.Rate.Unlimited() {
			d, err := g.state.Peek(ctx, rateKey(provider, k.ID), p.Rate)
			if err != nil {
				return nil, err
			}
			ks.Rate = rateStatus(p.Rate, d)
		}
		ws, reasons := p.windows(k, now)
		us, err := usages(ctx, g.state, ws)
		if err != nil {
			return nil, err
		}
		for i, r := range reasons {
			if r == "day_quota" {
				ks.Day = us[i]
			} else {
				ks.Month = us[i]
			}
		}
		out = append(out, ks)
	}
	return out, nil
}

// ClientStatus reports client's own allowance without taking units.
func (g *Governor) ClientStatus(ctx context.Context, client string) (ClientStatus, error) {
	c, ok := g.clients[client]
	if !ok {
		return ClientStatus{}, nil
	}
	var cs ClientStatus
	if !c.Rate.Unlimited() {
		d, err := g.state.Peek(ctx, clientRateKey(client), c.Rate)
		if err != nil {
			return cs, err
		}
		cs.Rate = rateStatus(c.Rate, d)
	}
	ws, reasons := c.windows(g.clock.Now())
	us, err := usages(ctx, g.state, ws)
	if err != nil {
		return cs, err
	}
	for i, r := range reasons {
		if r == "day_quota" {
			cs.Day = us[i]
		} else {
			cs.Month = us[i]
		}
	}
	return cs, nil
}
