package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/intelgate/intelgate/internal/cache"
	"github.com/intelgate/intelgate/internal/cache/rediscache"
	"github.com/intelgate/intelgate/internal/clock"
	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/observe"
	"github.com/intelgate/intelgate/internal/seal"
	"github.com/intelgate/intelgate/internal/store/postgres"
	"github.com/intelgate/intelgate/internal/store/sqlite"
)

// KeyFileName is the data-at-rest key the embedded default generates
// beside its SQLite file when encryption.keys is not configured.
const KeyFileName = "intelgate-cache.key"

// openKeyring returns the configured data-at-rest keys (the first seals,
// all open), or on the embedded default a key generated once into the
// data directory.
func openKeyring(cfg *config.Config, secrets *config.Secrets, log *slog.Logger) (*seal.Keyring, error) {
	var keys []seal.Key
	for i, k := range cfg.Encryption.Keys {
		v, ok := secrets.EncryptionKey(k.ID)
		if !ok || v.IsZero() {
			return nil, fmt.Errorf("encryption.keys[%d].secret: not resolved", i)
		}
		keys = append(keys, seal.Key{ID: k.ID, Secret: []byte(v.Reveal())})
	}
	if len(keys) == 0 {
		if cfg.Shared.Driver == "redis" {
			// config validation refuses this when anything is cached.
			return nil, errors.New("encryption.keys: required when shared.driver is redis")
		}
		path := filepath.Join(filepath.Dir(cfg.Storage.DSN), KeyFileName)
		k, created, err := seal.LoadOrCreateKeyFile(path)
		if err != nil {
			return nil, fmt.Errorf("data-at-rest key: %w", err)
		}
		if created {
			log.Warn("no encryption.keys configured: generated a data-at-rest key for the cache; back it up with the database, or configure encryption.keys",
				"path", path, "key_id", k.ID)
		} else {
			log.Info("using the generated data-at-rest key", "path", path, "key_id", k.ID)
		}
		keys = []seal.Key{k}
	}
	kr, err := seal.NewKeyring(keys)
	if err != nil {
		return nil, fmt.Errorf("encryption.keys: %w", err)
	}
	return kr, nil
}

// openCache assembles the two tiers: the in-process hot tier over the
// sealed durable tier (the SQLite store, or Redis shared by the replicas,
// with its fill lease and purge bus).
// a.keyring must be open.
func (a *App) openCache(cfg *config.Config, obs observe.Observer, hot bool, clk clock.Clock) error {
	if !anyCached(cfg) {
		a.log.Info("no provider is cached (cache: {enabled: false} everywhere)")
		return nil
	}
	kr := a.keyring
	var err error
	o := cache.Options{Observer: obs, Log: a.log, Clock: clk}
	if hot && cfg.Cache.MemoryBytes > 0 {
		hot, err := cache.NewMemory(cache.MemoryOptions{MaxBytes: int64(cfg.Cache.MemoryBytes), Clock: clk, OnEvict: func(provider, reason string) {
			if obs != nil {
				obs.Observe(context.Background(), observe.CacheEvicted{Provider: provider, Reason: reason})
			}
		}})
		if err != nil {
			return fmt.Errorf("cache.memory_bytes: %w", err)
		}
		a.hot, o.Hot = hot, hot
		a.closers = append(a.closers, closerFunc(func() error { hot.Close(); return nil }))
	}
	var records cache.Records
	if a.redis != nil {
		rc := rediscache.New(a.redis, rediscache.Options{Prefix: a.redisPrefix, OpTimeout: a.redisTimeout})
		records, o.Leaser, o.Bus = rc, rc, rc
		o.LeaseID = func(k cache.Key) string { return kr.Index(k.String())[0] }
	} else {
		// Purges by other processes on the same database (intelgate cache
		// purge, other replicas) reach this hot tier through the store:
		// SQLite's purge log, PostgreSQL's LISTEN/NOTIFY.
		switch st := a.store.(type) {
		case *sqlite.Store:
			records, o.Bus = st, st.PurgeLog(0)
		case *postgres.Store:
			records, o.Bus = st, st.Notifier(postgres.NotifierOptions{})
		default:
			return fmt.Errorf("storage.driver %q cannot hold the cache", cfg.Storage.Driver)
		}
	}
	a.sealed = cache.NewSealed(records, kr, clk)
	o.Durable = a.sealed
	if a.cache, err = cache.New(o); err != nil {
		return fmt.Errorf("building the cache: %w", err)
	}
	a.purges = newPurgeQueue(a.cache, a.log)
	return nil
}

func anyCached(cfg *config.Config) bool {
	for _, p := range cfg.Providers {
		if p.Cache.On() {
			return true
		}
	}
	return false
}

// cachePolicies maps providers.*.cache to the lookup service's policies.
func cachePolicies(cfg *config.Config) map[string]cache.Policy {
	out := make(map[string]cache.Policy, len(cfg.Providers))
	for name, p := range cfg.Providers {
		c := p.Cache
		pol := cache.Policy{Enabled: c.On(), TTL: c.TTL.Std(), NegativeTTL: c.NegativeTTL.Std(),
			StaleIfError: c.StaleIfError.Std(), PerClient: c.PerClient, MaxTTL: cfg.Retention.CacheMaxTTL.Std(),
			// One call with its retries: the attempts' timeouts, and the
			// waits between them, bounded.
			Lease: min(time.Duration(p.Retry.MaxAttempts)*p.Timeout.Std()+p.Retry.MaxWait.Std(), 2*time.Minute)}
		if len(c.TTLByType) > 0 {
			pol.TTLByType = make(map[string]time.Duration, len(c.TTLByType))
			for t, d := range c.TTLByType {
				pol.TTLByType[string(t)] = d.Std()
			}
		}
		out[name] = pol
	}
	return out
}

// purgeQueue runs the automatic purges (a provider's key revoked or
// rotated) off the request path: an observer must not block, and a purge
// scans the durable tier. Requests for a provider already queued merge.
type purgeQueue struct {
	cache *cache.Cache
	log   *slog.Logger
	mu    sync.Mutex
	queue map[string]string // provider → reason
	wake  chan struct{}
}

func newPurgeQueue(c *cache.Cache, log *slog.Logger) *purgeQueue {
	return &purgeQueue{cache: c, log: log, queue: map[string]string{}, wake: make(chan struct{}, 1)}
}

// Observe queues a purge of a provider whose key was revoked.
func (q *purgeQueue) Observe(_ context.Context, e observe.Event) {
	if r, ok := e.(observe.KeyRevoked); ok && !r.Renewed {
		q.add(r.Provider, "key_revoked")
	}
}

func (q *purgeQueue) add(provider, reason string) {
	q.mu.Lock()
	q.queue[provider] = reason
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// purgeRetry is how long a failed automatic purge waits before it is
// tried again (the store or Redis was unreachable).
const purgeRetry = 5 * time.Second

// run purges what is queued until ctx ends. A purge that fails stays
// queued and is retried: the answers of a revoked key must not outlive it
// because Redis blinked.
func (q *purgeQueue) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		}
		if q.drain(ctx) {
			continue
		}
		t := time.NewTimer(purgeRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// drain runs the queued purges and reports whether all succeeded; the
// failed ones are queued again.
func (q *purgeQueue) drain(ctx context.Context) bool {
	q.mu.Lock()
	batch := q.queue
	q.queue = map[string]string{}
	q.mu.Unlock()
	ok := true
	for provider, reason := range batch {
		if _, err := q.cache.Purge(ctx, cache.Scope{Provider: provider}, "gateway", reason); err != nil {
			if ctx.Err() != nil {
				return true
			}
			q.log.Error("automatic cache purge failed; retrying", "provider", provider, "reason", reason,
				"retry_in", purgeRetry.String(), "error", err)
			q.mu.Lock()
			if _, queued := q.queue[provider]; !queued {
				q.queue[provider] = reason
			}
			q.mu.Unlock()
			ok = false
		}
	}
	return ok
}

// closerFunc adapts a function to io.Closer.
type closerFunc func() error

func (f closerFunc) Close() error { return f() }
