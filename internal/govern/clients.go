package govern

import (
	"context"
	"fmt"
	"time"
)

// ClientPolicy is an application's own allowance at the gateway,
// independent of any provider's limits.
type ClientPolicy struct {
	Client   string
	Rate     Limit
	Day      int64 // requests per calendar day; 0 = unlimited
	Month    int64 // requests per calendar month; 0 = unlimited
	Calendar Calendar
}

func clientRateKey(client string) string { return "r:c:" + client }

func (c *ClientPolicy) windows(now time.Time) ([]Window, []string) {
	return quotaWindows("q:c:"+c.Client, c.Day, c.Month, c.Calendar, now)
}

// AdmitClient takes one unit of client's rate and daily quota. A client over
// its own limit is answered at once (no waiting): it is the client, not an
// upstream, that must slow down, and Retry-After tells it when.
func (g *Governor) AdmitClient(ctx context.Context, client string) error {
	c, ok := g.client(client)
	if !ok {
		return nil
	}
	now := g.clock.Now()
	if !c.Rate.Unlimited() {
		dec, err := g.state.Allow(ctx, clientRateKey(client), c.Rate)
		if err != nil {
			return g.clientUnavailable(client, err)
		}
		if !dec.Allowed {
			return &LimitedError{Scope: "client", Name: client, Reason: "rate", RetryAfter: dec.RetryAfter}
		}
	}
	ws, reasons := c.windows(now)
	if len(ws) == 0 {
		return nil
	}
	ok, idx, err := g.state.Consume(ctx, ws)
	if err != nil {
		return g.clientUnavailable(client, err)
	}
	if !ok {
		return &LimitedError{Scope: "client", Name: client, Reason: reasons[idx], RetryAfter: ws[idx].Expires.Sub(now)}
	}
	return nil
}

func (g *Governor) clientUnavailable(client string, err error) error {
	if g.failOpen {
		return nil
	}
	return fmt.Errorf("pacing client %q: %w", client, err)
}
