package app

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/leak"
	"github.com/intelgate/intelgate/internal/lookup"
	"github.com/intelgate/intelgate/internal/observe"
	"github.com/intelgate/intelgate/internal/pipeline"
	"github.com/intelgate/intelgate/internal/provider"
	"github.com/intelgate/intelgate/internal/resilience"
	"github.com/intelgate/intelgate/internal/secret"
)

// Calls holds each provider's pipeline and breaker; it is the lookup
// service's Caller and the gateway's QuotaReporter.
type Calls struct {
	gov       *govern.Governor
	pipelines map[string]*pipeline.Pipeline
	breakers  map[string]*resilience.Breaker

	obs    observe.Observer
	swapMu sync.Mutex // one key swap at a time
	// secrets are every secret each provider's pool has held since start:
	// a secret rotated out must still never reach a client.
	secrets map[string][]secret.Value
	// pools are each provider's current keys, to tell a rotation (a
	// secret that changed) from a reordering.
	pools map[string][]govern.Key
}

func newCalls(cfg *config.Config, provs []provider.Provider, gov *govern.Governor, keys map[string][]govern.Key, obs observe.Observer, log *slog.Logger) (*Calls, error) {
	c := &Calls{gov: gov, pipelines: map[string]*pipeline.Pipeline{}, breakers: map[string]*resilience.Breaker{},
		secrets: map[string][]secret.Value{}, pools: map[string][]govern.Key{}, obs: obs}
	for _, p := range provs {
		name := p.Name()
		pc := cfg.Providers[name]
		br := resilience.NewBreaker(name, resilience.BreakerSettings{
			FailureRatio:     pc.Breaker.FailureRatio,
			MinRequests:      pc.Breaker.MinRequests,
			Window:           pc.Breaker.Window.Std(),
			OpenFor:          pc.Breaker.OpenFor.Std(),
			HalfOpenRequests: pc.Breaker.HalfOpenRequests,
			OnStateChange: func(from, to string) {
				log.Warn("circuit breaker state changed", "provider", name, "from", from, "to", to)
				if obs != nil {
					obs.Observe(context.Background(), observe.BreakerChanged{Provider: name, From: from, To: to})
				}
			},
		})
		check, checkRevokeOn := authCheck(p, pc, log)
		pl, err := pipeline.New(pipeline.Options{
			Provider: p,
			Governor: gov,
			Breaker:  br,
			Retry: resilience.Policy{MaxAttempts: pc.Retry.MaxAttempts, Base: pc.Retry.Backoff.Std(),
				Cap: pc.Retry.MaxWait.Std()},
			// A floor of one retry a second lets a quiet gateway still
			// retry; above it retries stay within the budget's share.
			Budget:        resilience.NewBudget(pc.Retry.Budget, 1, nil),
			MaxPause:      pc.Retry.MaxWait.Std(),
			Log:           log,
			Rate:          limitOf(pc.Limits),
			Leaks:         c.remember(name, keys[name]),
			RevokeOn:      pc.RevokeOn,
			Check:         check,
			CheckRevokeOn: checkRevokeOn,
			Observer:      obs,
		})
		if err != nil {
			return nil, fmt.Errorf("building pipeline for provider %q: %w", name, err)
		}
		c.pipelines[name], c.breakers[name] = pl, br
		c.pools[name] = slices.Clone(keys[name])
	}
	return c, nil
}

// authCheck is the provider's auth check, or nil (logged: without one a
// refused key is never revoked).
func authCheck(p provider.Provider, pc *config.Provider, log *slog.Logger) (pipeline.AuthChecker, []int) {
	ac, ok := p.(pipeline.AuthChecker)
	if pc.AuthCheck == nil || !ok {
		log.Warn("provider has no auth_check: a key the upstream refuses is reported, never taken out of rotation",
			"provider", p.Name())
		return nil, nil
	}
	return ac, pc.AuthCheck.RevokeOn
}

// Recheck re-checks every provider's revoked keys until ctx ends.
func (c *Calls) Recheck(ctx context.Context) {
	var wg sync.WaitGroup
	for _, pl := range c.pipelines {
		wg.Go(func() { pl.Recheck(ctx) })
	}
	wg.Wait()
}

// remember adds keys' secrets to the provider's and returns a detector for
// all of them: it finds any of a provider's keys in an answer, not only
// the key a call used, since a proxy that caches or logs may echo another.
func (c *Calls) remember(provider string, keys []govern.Key) *leak.Detector {
	for _, k := range keys {
		if !slices.ContainsFunc(c.secrets[provider], func(v secret.Value) bool { return v.Reveal() == k.Value.Reveal() }) {
			c.secrets[provider] = append(c.secrets[provider], k.Value)
		}
	}
	return leak.New(c.secrets[provider]...)
}

// SwapKeys replaces provider's key pool while lookups run: the new pool is
// validated and built whole, the reflection check learns its secrets
// first, then the governor swaps atomically. Lookups in flight finish on
// the lease they hold; the next ones use the new pool. On error nothing
// changed.
func (c *Calls) SwapKeys(provider string, keys []govern.Key) error {
	pl, ok := c.pipelines[provider]
	if !ok {
		return fmt.Errorf("swapping keys of %q: %w", provider, govern.ErrUnknownProvider)
	}
	c.swapMu.Lock()
	defer c.swapMu.Unlock()
	before := len(c.secrets[provider])
	pl.SetLeaks(c.remember(provider, keys)) // before any lookup can use a new key
	if err := c.gov.SwapKeys(provider, keys); err != nil {
		c.secrets[provider] = c.secrets[provider][:before]
		pl.SetLeaks(leak.New(c.secrets[provider]...))
		return err
	}
	c.pools[provider] = slices.Clone(keys)
	if c.obs != nil {
		ids := make([]string, len(keys))
		for i, k := range keys {
			ids[i] = k.ID
		}
		c.obs.Observe(context.Background(), observe.KeysSwapped{Provider: provider, KeyIDs: ids})
	}
	return nil
}

// ChangedSecrets returns the ids of keys whose secret provider's current
// pool does not hold: rotations, after which the provider's cached answers
// are purged. Dropping a key or reordering the pool is not one.
func (c *Calls) ChangedSecrets(provider string, keys []govern.Key) []string {
	c.swapMu.Lock()
	defer c.swapMu.Unlock()
	var ids []string
	for _, k := range keys {
		if !slices.ContainsFunc(c.pools[provider], func(o govern.Key) bool { return o.Value.Reveal() == k.Value.Reveal() }) {
			ids = append(ids, k.ID)
		}
	}
	return ids
}

var _ lookup.PriorityCaller = (*Calls)(nil)

// Call runs one interactive lookup through the provider's pipeline.
func (c *Calls) Call(ctx context.Context, name, env string, req provider.Request) (pipeline.Outcome, error) {
	return c.CallAt(ctx, name, env, pipeline.Interactive, req)
}

// CallAt runs one lookup through the provider's pipeline at priority pri
// (bulk work: pipeline.Bulk).
func (c *Calls) CallAt(ctx context.Context, name, env string, pri pipeline.Priority, req provider.Request) (pipeline.Outcome, error) {
	pl, ok := c.pipelines[name]
	if !ok {
		return pipeline.Outcome{}, fmt.Errorf("calling %q: %w", name, govern.ErrUnknownProvider)
	}
	return pl.LookupAt(ctx, env, pri, req)
}

// ProviderStatus reports a provider's keys for an environment.
func (c *Calls) ProviderStatus(ctx context.Context, name, env string) ([]govern.KeyStatus, error) {
	return c.gov.ProviderStatus(ctx, name, env)
}

// ClientStatus reports a client's own allowance.
func (c *Calls) ClientStatus(ctx context.Context, client string) (govern.ClientStatus, error) {
	return c.gov.ClientStatus(ctx, client)
}

// BreakerState is a provider's breaker state.
func (c *Calls) BreakerState(name string) string {
	if b, ok := c.breakers[name]; ok {
		return b.State()
	}
	return ""
}
