// Package app assembles a running gateway from a validated config: secrets,
// store, governance state, providers and their call pipelines,
// authentication and the HTTP API. It is the one place that shows the whole
// chain (see docs/architecture.md); each layer lives in its own package.
package app

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/intelgate/intelgate/internal/alert"
	"github.com/intelgate/intelgate/internal/audit"
	"github.com/intelgate/intelgate/internal/auth"
	"github.com/intelgate/intelgate/internal/cache"
	"github.com/intelgate/intelgate/internal/callback"
	"github.com/intelgate/intelgate/internal/clock"
	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/gateway"
	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/jobs"
	"github.com/intelgate/intelgate/internal/lookup"
	"github.com/intelgate/intelgate/internal/monitor"
	"github.com/intelgate/intelgate/internal/observe"
	"github.com/intelgate/intelgate/internal/provider"
	"github.com/intelgate/intelgate/internal/retention"
	"github.com/intelgate/intelgate/internal/seal"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/secret/vault"
	"github.com/intelgate/intelgate/internal/store"
	"github.com/intelgate/intelgate/internal/store/postgres"
	"github.com/intelgate/intelgate/internal/store/sqlite"
	"github.com/intelgate/intelgate/internal/upstream"
)

// App is an assembled gateway.
type App struct {
	cfg     *config.Config
	log     *slog.Logger
	store   store.Store
	closers []io.Closer
	calls   *Calls
	gateway *gateway.Gateway
	lookups *lookup.Service

	// The cache and what it runs on (internal/app/cache.go).
	cache        *cache.Cache
	keyring      *seal.Keyring
	sealed       *cache.Sealed
	hot          cache.Tier            // the in-process tier, nil when cache.memory_bytes is 0
	redis        redis.UniversalClient // nil unless shared.driver is redis
	redisPrefix  string
	redisTimeout time.Duration
	purges       *purgeQueue

	// The audit log and retention (internal/app/audit.go).
	auditStore *audit.Store
	auditLog   *audit.Log
	recorder   *audit.Recorder
	sweeper    *retention.Runner
	storeObs   lateObserver
	clock      clock.Clock

	metrics         *monitor.Metrics
	metricsListener net.Listener // server.metrics_listen, opened by Run's caller (Listen)

	// What reloads and secret refreshes change (internal/app/reload.go):
	// the running config and secrets, swapped whole; the authenticator;
	// the secrets' readiness.
	obs          observe.Observer
	live         atomic.Pointer[live]
	reload       reloader
	auth         *switchAuth
	secretHealth *secretHealth
	state        govern.State  // the shared state: rates, pauses, revocations, client disables
	vault        *vault.Source // nil unless secrets.vault is configured

	// The bulk lookup queue and its callback deliverer
	// (internal/app/jobs.go); nil when jobs are off.
	jobs      *jobs.Queue
	deliverer *callback.Deliverer
	hooks     *webhooks // inbound provider webhooks (internal/app/webhooks.go)

	// The alert engine (internal/app/alerts.go); nil when alerts are off.
	alerts     *alert.Engine
	digestSeed maphash.Seed
}

// Options are what an App takes besides its config.
type Options struct {
	// Observer hears every step of every lookup (metrics, audit and alerts
	// attach here); nil: none.
	Observer observe.Observer
	// Clock is the clock of the cache, the lookup service and the store
	// (tests), and of the gateway that reports cached answers' Age; nil:
	// the system clock. The governor keeps its own.
	Clock clock.Clock
	// ConfigPath is the file cfg was loaded from: Reload (SIGHUP, POST
	// /admin/v1/reload) reads it again. "": a reload re-reads the secrets
	// only.
	ConfigPath string
	// Sources resolve the secret references; the zero value: env: and
	// file:, and vault: and awssm: from the config's secrets section.
	// Tests inject fakes here.
	Sources secret.Sources
}

// New builds every layer from cfg; nothing serves until Run. On error,
// whatever was opened is closed again.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, o Options) (_ *App, err error) {
	a := &App{cfg: cfg, log: log, clock: o.Clock}
	defer func() {
		if err != nil {
			_ = a.Close()
		}
	}()
	sources, err := a.openSources(ctx, cfg, o.Sources)
	if err != nil {
		return nil, err
	}
	secrets, err := cfg.ResolveSecretsOver(ctx, sources, nil, a.now())
	if err != nil {
		return nil, fmt.Errorf("resolving secrets: %w", err)
	}
	for _, w := range secrets.Warnings() {
		log.Warn("configuration warning", "field", w.Field, "line", w.Line, "problem", w.Msg)
	}
	a.live.Store(&live{cfg: cfg, secrets: secrets})
	a.reload = newReloader(o.ConfigPath, sources)
	a.secretHealth = &secretHealth{now: a.now, maxStale: cfg.Secrets.MaxStale.Std()}

	// Providers first: they read CA and schema files, the likeliest
	// start-up failures, before anything is written.
	provs, transports, resolveName, err := buildProviders(cfg, log)
	if err != nil {
		return nil, err
	}
	for _, t := range transports {
		a.closers = append(a.closers, idleCloser{t})
	}
	if a.store, err = openStore(ctx, cfg.Storage, secrets, o.Clock, a.storeObs.storeFailed); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, a.store)
	if cfg.Storage.Driver == "postgres" && cfg.Shared.Driver != "redis" {
		log.Warn("storage.driver is postgres but shared.driver is memory: rates and running pauses are this process's own; run one replica, or share them through Redis (shared.driver: redis)")
	}
	// The data-at-rest keys seal the cache and MAC the audit log and key
	// fingerprints: opened whatever is cached.
	if a.keyring, err = openKeyring(cfg, secrets, log); err != nil {
		return nil, err
	}
	fp := fingerprinter(a.keyring)
	state, ready, degradable, err := a.openState(ctx, cfg, secrets)
	if err != nil {
		return nil, err
	}
	a.state = state
	keys, rotated, err := resolveKeys(ctx, cfg, secrets, a.store, a.keyring, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && len(rotated) > 0 {
			forgetRotations(context.WithoutCancel(ctx), a.store, rotated, log)
		}
	}()
	gov, err := newGovernor(cfg, state, keys, fp, log)
	if err != nil {
		return nil, err
	}
	if err := adoptRevocations(ctx, gov, keys, a.keyring, log); err != nil {
		return nil, err
	}
	withhold, err := cfg.MinimisePolicy()
	if err != nil {
		return nil, fmt.Errorf("building query minimisation: %w", err)
	}
	a.metrics = newMetrics(a, gov)
	a.metrics.WatchKeyAges(a)
	a.storeObs.set(a.metrics)
	if err := a.listenMetrics(ctx); err != nil {
		return nil, fmt.Errorf("server.metrics_listen: %w", err)
	}
	obs := observe.Join(o.Observer, a.metrics)
	if err := a.openAudit(cfg, obs); err != nil {
		return nil, err
	}
	// Key revocations and restorations and cache purges are audited from
	// the request path's events.
	obs = observe.Join(obs, a.recorder)
	if err := a.openAlerts(cfg); err != nil {
		return nil, err
	}
	if a.alerts != nil {
		obs = observe.Join(obs, a.alerts)
	}
	if err := a.openCache(cfg, obs, true, o.Clock); err != nil {
		return nil, err
	}
	if a.purges != nil {
		obs = observe.Join(obs, a.purges)
	}
	if err := a.keysRotated(ctx, rotated); err != nil {
		return nil, err
	}
	a.obs = obs
	if a.calls, err = newCalls(cfg, provs, gov, keys, obs, log); err != nil {
		return nil, err
	}
	a.lookups, err = lookup.New(lookup.Options{Providers: provs, ResolveProvider: resolveName, Caller: a.calls,
		Cache: a.cache, Policies: cachePolicies(cfg), Withhold: withhold, Admit: gov, Observer: obs, Auditor: a.lookupAuditor(),
		Log: log, Clock: o.Clock})
	if err != nil {
		return nil, fmt.Errorf("building lookup service: %w", err)
	}
	authn, err := auth.New(cfg.Clients, cfg.Server.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("building client authentication: %w", err)
	}
	a.auth = newSwitchAuth(authn)
	if err := a.openJobs(ctx, cfg); err != nil {
		return nil, err
	}
	ready["secrets_fresh"] = freshSecrets{a.secretHealth}
	degradable["secrets"] = degradedSecrets{a.secretHealth}
	if a.vault != nil {
		ready["vault"] = vaultReady{a.vault}
		degradable["vault_token"] = vaultRenewing{a.vault}
	}
	if err := a.buildGateway(cfg, a.auth, ready, degradable); err != nil {
		return nil, err
	}
	if a.sweeper, err = a.newSweeper(cfg, obs); err != nil {
		return nil, fmt.Errorf("building the retention sweeper: %w", err)
	}
	return a, nil
}

// keysRotated audits the upstream keys found rotated at start-up and
// purges their providers' cached answers: answers fetched with a key that
// has since changed are not trusted to be what the new key would see
// (another account, another plan).
func (a *App) keysRotated(ctx context.Context, rotated map[string][]string) error {
	for _, name := range slices.Sorted(maps.Keys(rotated)) {
		for _, id := range rotated[name] {
			a.recorder.KeyRotated(name, id, "gateway")
		}
		if a.cache == nil {
			continue
		}
		if _, err := a.cache.Purge(ctx, cache.Scope{Provider: name}, "gateway", "key_rotated"); err != nil {
			return fmt.Errorf("purging provider %q's cache after its key changed: %w", name, err)
		}
	}
	return nil
}

// buildGateway builds the HTTP API over the assembled layers.
func (a *App) buildGateway(cfg *config.Config, authn gateway.Authenticator, ready, degradable map[string]gateway.Checker) (err error) {
	// With PostgreSQL beside Redis, lookups do not need the store (quota,
	// pauses and the cache's durable tier are in Redis; audit records
	// wait in their queue): an outage degrades every replica rather than
	// making all of them unready at once. Otherwise the store holds the
	// quota counters, and without it no call may go upstream.
	if cfg.Storage.Driver == "postgres" && cfg.Shared.Driver == "redis" {
		degradable["store"] = a.store
	} else {
		ready["store"] = a.store
	}
	a.gateway, err = gateway.New(gateway.Options{
		Auth:                 authn,
		Lookups:              a.lookups,
		Metrics:              a.metrics,
		MetricsOnMain:        cfg.Server.MetricsListen == "",
		Quota:                a.calls,
		Seen:                 a.store,
		Ready:                ready,
		Degradable:           degradable,
		Log:                  a.log,
		LogIndicators:        cfg.Server.LogIndicators,
		MaxBodyBytes:         int64(cfg.Server.MaxBodyBytes),
		RequestTimeout:       requestTimeout(cfg.Server.WriteTimeout.Std()),
		TrustedProxies:       cfg.Server.TrustedProxies,
		AuthFailures:         gateway.AuthFailureLimitsFrom(cfg.Server.AuthFailures),
		Clock:                a.clock,
		Audit:                a.auditTrail(),
		AuditLog:             auditReader{Store: a.auditStore, keys: a.keyring},
		Operator:             operator{a},
		KeyAges:              operator{a},
		Alerts:               a.alertAdmin(),
		Jobs:                 a.jobQueue(),
		JobsMaxBodyBytes:     int64(cfg.Jobs.MaxBodyBytes),
		DeadLetters:          a.deadLetters(),
		Webhooks:             a.webhookReceiver(),
		WebhooksMaxBodyBytes: webhookMaxBody,
		Compat:               compatRoutes(cfg),
		Providers:            providerInfo(cfg),
	})
	if err != nil {
		return fmt.Errorf("building gateway: %w", err)
	}
	return nil
}

// compatRoutes are the providers' vendor-compatible routes (presets set
// them): they are fixed at start, like the routes themselves, so a reload
// that changes them is refused (see restartFields).
func compatRoutes(cfg *config.Config) map[string]*config.Compat {
	m := map[string]*config.Compat{}
	for name, p := range cfg.Providers {
		if p.Compat != nil && len(p.Compat.Routes) > 0 {
			m[name] = p.Compat
		}
	}
	return m
}

// providerInfo is what GET /v1/providers reports of each provider's
// configuration.
func providerInfo(cfg *config.Config) map[string]gateway.ProviderInfo {
	m := make(map[string]gateway.ProviderInfo, len(cfg.Providers))
	for name, p := range cfg.Providers {
		info := gateway.ProviderInfo{
			Kind: p.Kind, Preset: p.Preset, Types: slices.Clone(p.Types),
			MaxTLP: p.MaxTLP, MaxPAP: p.MaxPAP,
			Cache: gateway.ProviderCache{Enabled: p.Cache.On(),
				TTLSeconds:         int64(p.Cache.TTL.Std().Seconds()),
				NegativeTTLSeconds: int64(p.Cache.NegativeTTL.Std().Seconds())},
		}
		if len(info.Types) == 0 {
			info.Types = indicator.Types() // socialeye's default: every type
		}
		if p.Compat != nil && len(p.Compat.Routes) > 0 && (p.Compat.Enabled == nil || *p.Compat.Enabled) {
			info.Compat = "/" + name + "/"
		}
		m[name] = info
	}
	return m
}

// requestTimeout leaves a margin under the server's write timeout so that
// waits and retries end in time for the answer (a 429, 504) to be written.
func requestTimeout(write time.Duration) time.Duration {
	if write <= 0 {
		return 0
	}
	return max(write-write/10, write-2*time.Second, time.Second)
}

// openStore opens the configured durable store; the rest of app sees only
// the store.Store interface. onError counts its failed operations.
func openStore(ctx context.Context, s config.Storage, secrets *config.Secrets, c clock.Clock, onError func(op string)) (store.Store, error) {
	switch s.Driver {
	case "", "sqlite":
		st, err := sqlite.OpenWith(ctx, s.DSN, sqlite.Options{Clock: c, OnError: onError})
		if err != nil {
			return nil, fmt.Errorf("opening sqlite store: %w", err)
		}
		return st, nil
	case "postgres":
		// The DSN is a secret and is never part of an error: the store's
		// errors say what failed without it.
		st, err := postgres.Open(ctx, secrets.StorageDSN().Reveal(), postgres.Options{Clock: c,
			OpTimeout: s.Timeout.Std(), MaxConns: int32(min(s.MaxConnections, 1<<20)), OnError: onError})
		if err != nil {
			return nil, fmt.Errorf("storage.dsn: %w", err)
		}
		return st, nil
	default:
		return nil, fmt.Errorf("storage.driver %q is not supported (sqlite or postgres)", s.Driver)
	}
}

// buildProviders constructs providers in name order and picks the one behind
// /v1/resolve: the provider named "socialeye", else the only one of kind
// socialeye.
func buildProviders(cfg *config.Config, log *slog.Logger) ([]provider.Provider, []*upstream.Client, string, error) {
	names := slices.Sorted(maps.Keys(cfg.Providers))
	var provs []provider.Provider
	var transports []*upstream.Client
	var socialeye []string
	for _, n := range names {
		p, t, err := provider.New(n, cfg.Providers[n])
		if err != nil {
			return nil, nil, "", err // already names the provider
		}
		provs = append(provs, p)
		transports = append(transports, t)
		if cfg.Providers[n].Kind == provider.KindSocialEye {
			socialeye = append(socialeye, n)
		}
	}
	resolve := ""
	switch {
	case cfg.Providers["socialeye"] != nil && cfg.Providers["socialeye"].Kind == provider.KindSocialEye:
		resolve = "socialeye"
	case len(socialeye) == 1:
		resolve = socialeye[0]
	case len(socialeye) > 1:
		log.Warn("several socialeye providers and none named socialeye: /v1/resolve is disabled", "providers", socialeye)
	}
	return provs, transports, resolve, nil
}

// idleCloser closes an upstream client's idle connections on shutdown, so
// upstreams see a clean close rather than waiting out their idle timeout.
type idleCloser struct{ c *upstream.Client }

func (i idleCloser) Close() error {
	i.c.CloseIdleConnections()
	return nil
}

// SwapKeys replaces a provider's upstream key pool while the gateway
// serves (Calls.SwapKeys): the seam live rotation and secret refresh use.
// When a secret changed, the provider's cached answers are purged on every
// replica (in the background: the swap itself never waits on the cache).
func (a *App) SwapKeys(provider string, keys []govern.Key) error {
	return a.swapKeys(provider, keys, "gateway")
}

func (a *App) swapKeys(provider string, keys []govern.Key, by string) error {
	changed := a.calls.ChangedSecrets(provider, keys)
	before := a.calls.gov.Keys(provider)
	if err := a.calls.SwapKeys(provider, keys); err != nil {
		return err
	}
	a.recordSwap(provider, before, keys, changed, by)
	if len(changed) > 0 && a.purges != nil {
		a.purges.add(provider, "key_rotated")
	}
	return nil
}

// Lookups is the lookup service (for tests and in-process clients).
func (a *App) Lookups() *lookup.Service { return a.lookups }

// Gateway is the HTTP API (for tests and the demo).
func (a *App) Gateway() *gateway.Gateway { return a.gateway }

// Run serves on ln until ctx is cancelled, then shuts down gracefully. The
// gateway's background work (the aggregated auth failure log) runs for as
// long as serving does and has ended when Run returns.
func (a *App) Run(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	var bg sync.WaitGroup
	defer bg.Wait()
	defer cancel()
	bg.Go(func() { a.gateway.Run(ctx) })
	bg.Go(func() { a.calls.Recheck(ctx) }) // revoked keys come back when their check passes
	bg.Go(func() { a.runRefresh(ctx) })
	bg.Go(func() { a.syncDisables(ctx) })
	if a.vault != nil {
		bg.Go(func() { a.vault.Run(ctx) }) // renews or logs in again, until ctx ends
	}
	if a.cache != nil {
		bg.Go(func() {
			if err := a.cache.Run(ctx); err != nil && ctx.Err() == nil {
				a.log.Error("cache purge subscription ended", "error", err)
			}
		})
		bg.Go(func() { a.purges.run(ctx) })
	}
	if ml := a.metricsListener; ml != nil {
		bg.Go(func() { a.serveMetrics(ctx, ml) })
	}
	if a.sweeper != nil {
		bg.Go(func() { a.sweeper.Run(ctx) })
	}
	if a.jobs != nil {
		// Items running at shutdown get the drain's time to finish; then
		// they are cancelled and wait, uncounted, for the next start.
		bg.Go(func() {
			if err := a.jobs.Run(ctx, a.cfg.Server.ShutdownTimeout.Std()); err != nil {
				a.log.Error("job queue stopped", "error", err.Error())
			}
		})
	}
	if a.alerts != nil {
		// The engine outlives the drain: alerts raised by the last
		// requests are still written and sent. It stops once Serve has
		// returned (deferred before cancel, so it runs first).
		alertCtx, stopAlerts := context.WithCancel(context.WithoutCancel(ctx))
		defer stopAlerts()
		bg.Go(func() {
			if err := a.alerts.Run(alertCtx); err != nil {
				a.log.Error("alert engine stopped", "error", err.Error())
			}
		})
	}
	a.log.Info("intelgate serving", "addr", ln.Addr().String(), "tls", a.cfg.Server.TLS != nil,
		"providers", a.gateway.ProviderNames(), "environment", a.cfg.Environment, "shared", a.cfg.Shared.Driver)
	return gateway.Serve(ctx, ln, a.gateway.Handler(), gateway.ListenerOptionsFrom(a.cfg.Server, a.log))
}

// Close releases the store and the shared state.
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i].Close())
	}
	a.closers = nil
	return errors.Join(errs...)
}
