package app

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/gateway"
	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/govern/memory"
	"github.com/intelgate/intelgate/internal/govern/redisstate"
	"github.com/intelgate/intelgate/internal/secret"
)

// openState picks the governance backend: in-process limits and pauses
// with quota counters in the SQLite store (embedded), or Redis for all of
// it (several replicas). It returns the readiness checks to add.
func (a *App) openState(ctx context.Context, cfg *config.Config, secrets *config.Secrets) (govern.State, map[string]gateway.Checker, map[string]gateway.Checker, error) {
	ready, degradable := map[string]gateway.Checker{}, map[string]gateway.Checker{}
	switch cfg.Shared.Driver {
	case "redis":
		redisstate.RouteLibraryLogs(a.log)
		st, err := redisstate.Open(ctx, secrets.SharedURL().Reveal(), redisstate.Options{
			Prefix: cfg.Shared.Prefix, OpTimeout: cfg.Shared.Timeout.Std()})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("shared.url: %w", err)
		}
		a.closers = append(a.closers, st)
		a.redis, a.redisPrefix, a.redisTimeout = st.Client(), cfg.Shared.Prefix, cfg.Shared.Timeout.Std()
		// With fail: open the gateway serves without Redis (unpaced), so
		// an outage degrades it rather than making it unready.
		if cfg.Shared.Fail == "open" {
			degradable["shared"] = st
		} else {
			ready["shared"] = st
		}
		return st, ready, degradable, nil
	default:
		// Pauses and revocations are kept in the store too, so a restart
		// neither sends a revoked key again nor forgets a running pause.
		st, err := memory.Open(ctx, memory.Options{Quotas: a.store, Pauses: a.store, Log: a.log})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("loading pauses and revocations from the store: %w", err)
		}
		return st, ready, degradable, nil
	}
}

// newGovernor maps provider and client limits to governor policies. A
// provider's limits apply to each of its keys: a key is one vendor account.
func newGovernor(cfg *config.Config, st govern.State, keys map[string][]govern.Key, fp func(secret.Value) string, log *slog.Logger) (*govern.Governor, error) {
	var policies []govern.Policy
	for name, p := range cfg.Providers {
		configured := limitOf(p.Limits)
		policies = append(policies, govern.Policy{
			Provider:        name,
			Keys:            keys[name],
			Rate:            withHeadroom(configured),
			ConfiguredBurst: configured.Burst,
			Day:             p.Limits.Quotas.Day,
			Month:           p.Limits.Quotas.Month,
			Calendar:        govern.Calendar{Loc: p.Limits.Location()},
			MaxWait:         p.Limits.MaxWait.Std(),
		})
	}
	// The interactive reserve is kept whether or not jobs are enabled: it
	// only ever binds bulk work.
	g, err := govern.New(govern.Options{State: st, FailOpen: cfg.Shared.Fail == "open", Fingerprint: fp,
		InteractiveShare: cfg.Jobs.InteractiveShare, Log: log}, policies, clientPolicies(cfg))
	if err != nil {
		return nil, fmt.Errorf("building governor: %w", err)
	}
	return g, nil
}

// clientPolicies are the clients' own allowances (built again by a reload).
func clientPolicies(cfg *config.Config) []govern.ClientPolicy {
	var clients []govern.ClientPolicy
	for name, c := range cfg.Clients {
		clients = append(clients, govern.ClientPolicy{
			Client:   name,
			Rate:     limitOf(c.Limits),
			Day:      c.Limits.Quotas.Day,
			Month:    c.Limits.Quotas.Month,
			Calendar: govern.Calendar{Loc: c.Limits.Location()},
		})
	}
	return clients
}

// jitterTolerance is how much delay skew between requests on their way
// upstream (a TLS handshake, a scheduling hiccup) the pacing absorbs.
const jitterTolerance = 100 * time.Millisecond

// withHeadroom keeps the gateway a hair inside a provider's limit. The
// upstream's bucket starts full and cannot bank capacity beyond its burst,
// so if the first requests are delayed on the way (TLS handshakes) and then
// arrive together with the ones paced after them, the upstream sees more at
// once than our bucket accounted for. Holding back the units the rate earns
// in jitterTolerance (at least one, at most half the burst) absorbs that;
// the sustained rate, and so the usable quota, is unchanged. With a burst
// of 1 each interval is stretched by 5% (at most 250ms) instead. Configure
// the vendor's published limit; the margin is ours.
func withHeadroom(l govern.Limit) govern.Limit {
	if l.Unlimited() {
		return l
	}
	if l.Burst >= 2 {
		perTolerance := int(math.Ceil(float64(l.Rate) * float64(jitterTolerance) / float64(l.Period)))
		l.Burst -= min(max(1, perTolerance), l.Burst/2)
		return l
	}
	margin := min(l.Interval()/20, 250*time.Millisecond)
	l.Period += margin * time.Duration(l.Rate)
	return l
}

func limitOf(l config.Limits) govern.Limit {
	if l.Rate.Unlimited() {
		return govern.Limit{}
	}
	return govern.Limit{Rate: l.Rate.N, Period: l.Rate.Per, Burst: l.Burst}
}
