// Package app assembles a running gateway from a validated config: secrets,
// store, providers, authentication and the HTTP API. It is the one place
// that shows the whole chain (see docs/architecture.md); each layer lives in
// its own package.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"

	"github.com/intelgate/intelgate/internal/auth"
	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/gateway"
	"github.com/intelgate/intelgate/internal/provider"
	"github.com/intelgate/intelgate/internal/store"
	"github.com/intelgate/intelgate/internal/store/sqlite"
)

// App is an assembled gateway.
type App struct {
	cfg     *config.Config
	log     *slog.Logger
	store   store.Store
	gateway *gateway.Gateway
}

// New builds every layer from cfg; nothing serves until Run. On error,
// whatever was opened is closed again.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *App, err error) {
	secrets, err := cfg.ResolveSecrets(ctx)
	if err != nil {
		return nil, fmt.Errorf("resolving secrets: %w", err)
	}
	a := &App{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			_ = a.Close()
		}
	}()

	if a.store, err = openStore(ctx, cfg.Storage); err != nil {
		return nil, err
	}
	keys, err := newKeyring(ctx, cfg, secrets, a.store, log)
	if err != nil {
		return nil, err
	}
	provs, resolveName, err := buildProviders(cfg, log)
	if err != nil {
		return nil, err
	}
	authn, err := auth.New(cfg.Clients, cfg.Server.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("building client authentication: %w", err)
	}
	a.gateway, err = gateway.New(gateway.Options{
		Auth:            authn,
		Providers:       provs,
		ResolveProvider: resolveName,
		Keys:            keys,
		Seen:            a.store,
		Ready:           map[string]gateway.Checker{"store": a.store},
		Log:             log,
		LogIndicators:   cfg.Server.LogIndicators,
		MaxBodyBytes:    int64(cfg.Server.MaxBodyBytes),
	})
	if err != nil {
		return nil, fmt.Errorf("building gateway: %w", err)
	}
	return a, nil
}

func openStore(ctx context.Context, s config.Storage) (store.Store, error) {
	switch s.Driver {
	case "", "sqlite":
		st, err := sqlite.Open(ctx, s.DSN)
		if err != nil {
			return nil, fmt.Errorf("opening sqlite store: %w", err)
		}
		return st, nil
	default:
		return nil, fmt.Errorf("storage.driver %q is not yet supported", s.Driver)
	}
}

// buildProviders constructs providers in name order and picks the one behind
// /v1/resolve: the provider named "socialeye", else the only one of kind
// socialeye.
func buildProviders(cfg *config.Config, log *slog.Logger) ([]provider.Provider, string, error) {
	names := make([]string, 0, len(cfg.Providers))
	for n := range cfg.Providers {
		names = append(names, n)
	}
	sort.Strings(names)
	var provs []provider.Provider
	var socialeye []string
	for _, n := range names {
		p, err := provider.New(n, cfg.Providers[n])
		if err != nil {
			return nil, "", fmt.Errorf("building provider %q: %w", n, err)
		}
		provs = append(provs, p)
		if cfg.Providers[n].Kind == "socialeye" {
			socialeye = append(socialeye, n)
		}
	}
	resolve := ""
	switch {
	case cfg.Providers["socialeye"] != nil && cfg.Providers["socialeye"].Kind == "socialeye":
		resolve = "socialeye"
	case len(socialeye) == 1:
		resolve = socialeye[0]
	case len(socialeye) > 1:
		log.Warn("several socialeye providers and none named socialeye: /v1/resolve is disabled", "providers", socialeye)
	}
	return provs, resolve, nil
}

// Handler is the gateway's HTTP handler (for tests and the demo).
func (a *App) Handler() *gateway.Gateway { return a.gateway }

// Run serves on ln until ctx is cancelled, then shuts down gracefully.
func (a *App) Run(ctx context.Context, ln net.Listener) error {
	a.log.Info("intelgate serving", "addr", ln.Addr().String(), "tls", a.cfg.Server.TLS != nil,
		"providers", a.gateway.ProviderNames(), "environment", a.cfg.Environment)
	return gateway.Serve(ctx, ln, a.gateway.Handler(), gateway.ListenerOptionsFrom(a.cfg.Server, a.log))
}

// Close releases the store.
func (a *App) Close() error {
	var errs []error
	if a.store != nil {
		errs = append(errs, a.store.Close())
	}
	return errors.Join(errs...)
}
