package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/intelgate/intelgate/internal/audit"
	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/govern/redisstate"
	"github.com/intelgate/intelgate/internal/lookup"
)

// CacheAdmin is the cache as intelgate cache purge|rekey use it: the
// durable tier and the purge bus of a deployment, without a gateway. A
// purge reaches running gateways' hot tiers through the bus (Redis
// pub/sub, or the SQLite store's purge log).
type CacheAdmin struct {
	a         *App
	providers []string
	secrets   *config.Secrets
}

// OpenCacheAdmin opens cfg's store, shared state and data-at-rest keys.
func OpenCacheAdmin(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *CacheAdmin, err error) {
	a, secrets, err := openForAdmin(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = a.Close()
		}
	}()
	if cfg.Shared.Driver == "redis" {
		redisstate.RouteLibraryLogs(log)
		st, err := redisstate.Open(ctx, secrets.SharedURL().Reveal(), redisstate.Options{
			Prefix: cfg.Shared.Prefix, OpTimeout: cfg.Shared.Timeout.Std()})
		if err != nil {
			return nil, fmt.Errorf("shared.url: %w", err)
		}
		a.closers = append(a.closers, st)
		a.redis, a.redisPrefix, a.redisTimeout = st.Client(), cfg.Shared.Prefix, cfg.Shared.Timeout.Std()
	}
	if err := a.openCache(cfg, nil, false, nil); err != nil {
		return nil, err
	}
	return &CacheAdmin{a: a, providers: slices.Sorted(maps.Keys(cfg.Providers)), secrets: secrets}, nil
}

// ErrNothingCached: no provider is cached, so there is no cache to work on.
var ErrNothingCached = errors.New("no provider is cached (every provider has cache: {enabled: false})")

// Purge removes what req selects, on every replica, and says how many
// durable entries went.
func (c *CacheAdmin) Purge(ctx context.Context, by string, req lookup.PurgeRequest) (int, error) {
	scope, f := lookup.PurgeScopeFor(c.providers, req)
	if f != nil {
		return 0, f
	}
	if c.a.cache == nil {
		return 0, ErrNothingCached
	}
	n, err := c.a.cache.Purge(ctx, scope, by, "admin")
	if err != nil {
		return n, err
	}
	detail := "scope=all"
	switch {
	case req.Provider != "" && req.Indicator != "":
		detail = "scope=indicator"
	case req.Provider != "":
		detail = "scope=provider"
	}
	return n, c.a.auditNow(ctx, audit.Record{Kind: audit.KindAdmin, Action: "cache_purge", Provider: req.Provider,
		By: by, Reason: "admin", Detail: detail, Count: int64(n)})
}

// Rekey re-seals every durable record under the first encryption key, so
// older keys can be removed from encryption.keys; corrupt records found on
// the way are deleted and counted; records under keys not in
// encryption.keys are left alone and counted (cache.Sealed.Rekey).
func (c *CacheAdmin) Rekey(ctx context.Context) (resealed, corrupt, unknown int, err error) {
	if c.a.sealed == nil {
		return 0, 0, 0, ErrNothingCached
	}
	if resealed, corrupt, unknown, err = c.a.sealed.Rekey(ctx); err != nil {
		return resealed, corrupt, unknown, err
	}
	if err := c.refingerprint(ctx); err != nil {
		return resealed, corrupt, unknown, err
	}
	if err := c.a.auditStore.RekeyHead(ctx); err != nil {
		return resealed, corrupt, unknown, fmt.Errorf("re-MACing the audit log's head: %w", err)
	}
	return resealed, corrupt, unknown, nil
}

// refingerprint renames the stored fingerprints of the upstream keys to the
// writer key's, so that the older keys can go from encryption.keys
// without the next start taking every upstream key for rotated. A
// fingerprint that matches none of the keys is a real rotation made while
// no gateway ran: it is left for the next start to find (and purge for).
func (c *CacheAdmin) refingerprint(ctx context.Context) error {
	kr, fp := c.a.keyring, fingerprinter(c.a.keyring)
	rotated := map[string][]string{}
	for _, name := range c.providers {
		for _, k := range c.a.cfg.Providers[name].Keys {
			v, ok := c.secrets.Key(name, k.ID)
			if !ok {
				continue
			}
			changed, err := c.a.store.RecordKeyFingerprint(ctx, name, k.ID, fp(v), time.Now().UTC(), olderFingerprints(kr, v)...)
			if err != nil {
				return fmt.Errorf("renaming the fingerprint of provider %q key %q: %w", name, k.ID, err)
			}
			if changed {
				rotated[name] = append(rotated[name], k.ID)
			}
		}
	}
	forgetRotations(ctx, c.a.store, rotated, c.a.log)
	return nil
}

// Writer is the id of the key new records are sealed under.
func (c *CacheAdmin) Writer() string {
	if c.a.keyring == nil {
		return ""
	}
	return c.a.keyring.Writer()
}

// Close releases the store and Redis.
func (c *CacheAdmin) Close() error { return c.a.Close() }
