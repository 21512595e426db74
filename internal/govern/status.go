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

// RateStatus is a rate limit's state. Rate, PerSecond, Period and Burst are
// what the gateway enforces; for a provider that is a hair inside the
// configured limit (see withHeadroom in internal/app), so ConfiguredBurst
// shows the burst as configured beside the effective Burst.
type RateStatus struct {
	Rate            int     `json:"rate"`
	PerSecond       float64 `json:"per_second"`
	Period          string  `json:"period"`
	Burst           int     `json:"burst"`
	ConfiguredBurst int     `json:"configured_burst"`
	Remaining       int     `json:"remaining"`
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

// rateStatus reports l; configuredBurst is the burst as configured, 0 when
// it is l's own.
func rateStatus(l Limit, configuredBurst int, d Decision) *RateStatus {
	if l.Unlimited() {
		return nil
	}
	burst := max(1, l.Burst)
	return &RateStatus{Rate: l.Rate, PerSecond: float64(l.Rate) / l.Period.Seconds(), Period: l.Period.String(),
		Burst: burst, ConfiguredBurst: max(burst, configuredBurst), Remaining: d.Remaining}
}

// dayMonth reads ws's usage and splits it by the reason each window
// reports: the day and month quotas (nil when not set).
func dayMonth(ctx context.Context, st QuotaCounter, ws []Window, reasons []string) (day, month *Usage, err error) {
	used, err := st.Used(ctx, ws)
	if err != nil {
		return nil, nil, err
	}
	for i, w := range ws {
		u := &Usage{Limit: w.Limit, Used: min(used[i], w.Limit), Remaining: max(0, w.Limit-used[i]), ResetsAt: w.Expires.UTC()}
		if reasons[i] == "day_quota" {
			day = u
		} else {
			month = u
		}
	}
	return day, month, nil
}

// ProviderStatus reports every key of environment env without taking
// units, from one snapshot of the pool.
func (g *Governor) ProviderStatus(ctx context.Context, provider, env string) ([]KeyStatus, error) {
	p, ok := g.policies[provider]
	if !ok {
		return nil, fmt.Errorf("status of %q: %w", provider, ErrUnknownProvider)
	}
	now := g.clock.Now()
	var out []KeyStatus
	for _, k := range p.pool.Load().keys {
		if k.Environment != env {
			continue
		}
		ks, err := g.keyStatus(ctx, p, k, now)
		if err != nil {
			return nil, fmt.Errorf("status of provider %q key %q: %w", provider, k.ID, err)
		}
		out = append(out, ks)
	}
	return out, nil
}

func (g *Governor) keyStatus(ctx context.Context, p *policyState, k poolKey, now time.Time) (KeyStatus, error) {
	ks := KeyStatus{ID: k.ID}
	revoked, err := g.state.PausedUntil(ctx, k.revoked)
	if err != nil {
		return ks, err
	}
	ks.Revoked = revoked.After(now)
	paused, err := g.state.PausedUntil(ctx, k.pause)
	if err != nil {
		return ks, err
	}
	if paused.After(now) {
		u := paused.UTC()
		ks.PausedUntil = &u
	}
	if !p.Rate.Unlimited() {
		d, err := g.state.Peek(ctx, k.rate, p.Rate)
		if err != nil {
			return ks, err
		}
		ks.Rate = rateStatus(p.Rate, p.ConfiguredBurst, d)
	}
	ws, reasons := p.windows(k, now)
	ks.Day, ks.Month, err = dayMonth(ctx, g.state, ws, reasons)
	return ks, err
}

// ClientStatus reports client's own allowance without taking units.
func (g *Governor) ClientStatus(ctx context.Context, client string) (ClientStatus, error) {
	c, ok := g.client(client)
	if !ok {
		return ClientStatus{}, nil
	}
	var cs ClientStatus
	if !c.Rate.Unlimited() {
		d, err := g.state.Peek(ctx, clientRateKey(client), c.Rate)
		if err != nil {
			return cs, fmt.Errorf("status of client %q: %w", client, err)
		}
		cs.Rate = rateStatus(c.Rate, 0, d)
	}
	ws, reasons := c.windows(g.clock.Now())
	var err error
	if cs.Day, cs.Month, err = dayMonth(ctx, g.state, ws, reasons); err != nil {
		return cs, fmt.Errorf("status of client %q: %w", client, err)
	}
	return cs, nil
}
