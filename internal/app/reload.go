package app

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/intelgate/intelgate/internal/auth"
	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/gateway"
	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/observe"
	"github.com/intelgate/intelgate/internal/secret"
)

// ErrRestartRequired wraps a reload refused because the new config changes
// something only a restart applies (the listener, the store, a provider's
// transport or limits…). Nothing of it was applied: a reload is all or
// nothing.
var ErrRestartRequired = gateway.ErrRestartRequired

// ErrReloadBusy: another reload or refresh is running; this one was not
// attempted.
var ErrReloadBusy = gateway.ErrReloadBusy

// ReloadReport says what a reload or a secret refresh changed.
type ReloadReport struct {
	// Config says the config file was read again (a reload; a refresh
	// re-reads only the secrets).
	Config bool `json:"config"`
	// Rotated are the keys whose secret changed ("provider/key_id").
	Rotated []string `json:"rotated,omitempty"`
	// Added and Removed are keys that appeared or went ("provider/key_id").
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
	// Clients says the clients section changed (and every runtime
	// disable ended).
	Clients bool `json:"clients,omitempty"`
	// Stale lists the secret fields whose source failed; their last good
	// value is in use.
	Stale []string `json:"stale,omitempty"`
}

// live is what a reload swaps: the running config and its secrets.
type live struct {
	cfg     *config.Config
	secrets *config.Secrets
}

// overlap is a rotated key's previous secret, used until until (see
// govern.Key.Previous).
type overlap struct {
	previous secret.Value
	until    time.Time
}

// reloader holds what reloads share: one runs at a time, and each rotated
// key's overlap outlives the reload that started it.
type reloader struct {
	mu       sync.Mutex
	path     string // the config file; "" when the App was built from a config in memory
	sources  secret.Sources
	overlaps map[string]map[string]overlap // provider → key id → overlap; under mu
}

// Reload reads the config file again (when the App knows it) and every
// secret, and applies the result whole: it is built and validated in full
// first, and a config that does not load, a secret that cannot be
// resolved for the first time, or a change only a restart can apply
// refuses the whole reload, leaving the running config as it was. by
// names who asked ("sighup", an admin client, "cli").
func (a *App) Reload(ctx context.Context, by string) (ReloadReport, error) {
	if !a.reload.mu.TryLock() {
		return ReloadReport{}, ErrReloadBusy
	}
	defer a.reload.mu.Unlock()
	cfg := a.live.Load().cfg
	fromFile := a.reload.path != ""
	if fromFile {
		var err error
		if cfg, err = config.Load(a.reload.path); err != nil {
			a.reloadFailed(by, err)
			return ReloadReport{}, err
		}
	}
	rep, err := a.apply(ctx, cfg, by, true)
	rep.Config = fromFile
	if err != nil {
		a.reloadFailed(by, err)
		return rep, err
	}
	a.log.Info("configuration reloaded", "by", by, "config", fromFile, "rotated", rep.Rotated,
		"added", rep.Added, "removed", rep.Removed, "clients_changed", rep.Clients, "stale_secrets", rep.Stale)
	a.recorder.Admin(by, "config_reload", reloadDetail(rep), "")
	a.observe(observe.ConfigReloaded{Outcome: "ok"})
	a.observe(observe.SecretsRefreshed{Outcome: "ok", Stale: len(rep.Stale)})
	return rep, nil
}

// RefreshSecrets re-reads every secret of the running config (the
// secrets.refresh timer) and applies what changed, as Reload does.
func (a *App) RefreshSecrets(ctx context.Context, by string) (ReloadReport, error) {
	a.reload.mu.Lock()
	defer a.reload.mu.Unlock()
	rep, err := a.apply(ctx, a.live.Load().cfg, by, false)
	if err != nil {
		a.log.Error("secret refresh failed; every key keeps its last good value", "by", by, "error", err.Error())
		a.observe(observe.SecretsRefreshed{Outcome: "error"})
		return rep, err
	}
	a.observe(observe.SecretsRefreshed{Outcome: "ok", Stale: len(rep.Stale)})
	if len(rep.Rotated)+len(rep.Added)+len(rep.Removed) > 0 {
		a.log.Info("secrets refreshed", "by", by, "rotated", rep.Rotated, "added", rep.Added, "removed", rep.Removed)
	}
	return rep, nil
}

func (a *App) reloadFailed(by string, err error) {
	a.log.Error("configuration reload refused; still running the configuration loaded before", "by", by, "error", err.Error())
	a.recorder.Admin(by, "config_reload_refused", "", "")
	a.observe(observe.ConfigReloaded{Outcome: "refused"})
}

// apply builds everything cfg needs, checks it whole, then swaps it in.
// A reload (full) always installs the clients anew, ending runtime
// disables; a refresh only when the secrets changed them (never). Called
// with reload.mu held.
func (a *App) apply(ctx context.Context, cfg *config.Config, by string, full bool) (ReloadReport, error) {
	cur := a.live.Load()
	if fields := restartFields(cur.cfg, cfg); len(fields) > 0 {
		return ReloadReport{}, fmt.Errorf("%w: %s (restart intelgate to apply them)", ErrRestartRequired, strings.Join(fields, ", "))
	}
	now := a.now()
	rctx, cancel := context.WithTimeout(ctx, cfg.Secrets.Timeout.Std())
	secrets, err := cfg.ResolveSecretsOver(rctx, a.reload.sources, cur.secrets, now)
	cancel()
	if err != nil {
		return ReloadReport{}, fmt.Errorf("resolving secrets: %w", err)
	}
	rep := ReloadReport{}
	for _, s := range secrets.Stale() {
		rep.Stale = append(rep.Stale, s.Field)
		a.log.Warn("secret source failed; the last good value stays in use", "field", s.Field, "ref", s.Ref.String(),
			"last_read", s.ReadAt.UTC().Format(time.RFC3339), "error", s.Err.Error())
	}
	pools, overlaps, err := a.buildPools(cfg, secrets, now, &rep)
	if err != nil {
		return ReloadReport{}, err
	}
	var authn *auth.Authenticator
	if rep.Clients = !reflect.DeepEqual(cur.cfg.Clients, cfg.Clients); rep.Clients || full {
		if authn, err = auth.New(cfg.Clients, cfg.Server.TrustedProxies); err != nil {
			return ReloadReport{}, fmt.Errorf("building client authentication: %w", err)
		}
	}
	// Everything is built and valid: swap it in.
	for _, name := range slices.Sorted(maps.Keys(pools)) {
		if err := a.swapKeys(name, pools[name], by); err != nil {
			// Checked above; a failure here is a bug, reported as one.
			return rep, fmt.Errorf("swapping keys of provider %q: %w", name, err)
		}
	}
	a.reload.overlaps = overlaps
	if authn != nil {
		a.calls.gov.SwapClients(clientPolicies(cfg))
		a.auth.swap(authn)
	}
	a.live.Store(&live{cfg: cfg, secrets: secrets})
	a.secretHealth.set(secrets.Stale(), cfg.Secrets.MaxStale.Std())
	return rep, nil
}

// buildPools is each provider's new key pool, for the providers whose pool
// changes, with the overlap of every key rotated now or still within
// rotation.overlap. Every pool is checked before any is swapped.
func (a *App) buildPools(cfg *config.Config, secrets *config.Secrets, now time.Time, rep *ReloadReport) (map[string][]govern.Key, map[string]map[string]overlap, error) {
	pools := map[string][]govern.Key{}
	overlaps := map[string]map[string]overlap{}
	window := cfg.Rotation.Overlap.Std()
	for _, name := range slices.Sorted(maps.Keys(cfg.Providers)) {
		current := a.calls.gov.Keys(name)
		byID := map[string]govern.Key{}
		for _, k := range current {
			byID[k.ID] = k
		}
		var keys []govern.Key
		for _, k := range cfg.Providers[name].Keys {
			v, ok := secrets.Key(name, k.ID)
			if !ok {
				return nil, nil, fmt.Errorf("provider %q key %q: secret not resolved", name, k.ID)
			}
			nk := govern.Key{ID: k.ID, Environment: k.Environment, Value: v}
			old, existed := byID[k.ID]
			ov, running := a.reload.overlaps[name][k.ID]
			switch {
			case !existed:
				rep.Added = append(rep.Added, name+"/"+k.ID)
			case old.Value.Reveal() != v.Reveal():
				rep.Rotated = append(rep.Rotated, name+"/"+k.ID)
				ov, running = overlap{previous: old.Value, until: now.Add(window)}, window > 0
			}
			if running && now.Before(ov.until) && ov.previous.Reveal() != v.Reveal() {
				nk.Previous = ov.previous
				if overlaps[name] == nil {
					overlaps[name] = map[string]overlap{}
				}
				overlaps[name][k.ID] = ov
			}
			keys = append(keys, nk)
		}
		for _, k := range current {
			if !slices.ContainsFunc(keys, func(n govern.Key) bool { return n.ID == k.ID }) {
				rep.Removed = append(rep.Removed, name+"/"+k.ID)
			}
		}
		if err := govern.CheckKeys(name, keys); err != nil {
			return nil, nil, err
		}
		if !samePool(current, keys) {
			pools[name] = keys
		}
	}
	return pools, overlaps, nil
}

// samePool reports whether a and b hold the same keys, secrets, previous
// secrets and environments in the same order.
func samePool(a, b []govern.Key) bool {
	return slices.EqualFunc(a, b, func(x, y govern.Key) bool {
		return x.ID == y.ID && x.Environment == y.Environment && x.Value.Reveal() == y.Value.Reveal() &&
			x.Previous.Reveal() == y.Previous.Reveal()
	})
}

// nextOverlapEnd is when the earliest running overlap ends (zero: none),
// so the refresh loop can drop the previous secret on time.
func (a *App) nextOverlapEnd() time.Time {
	a.reload.mu.Lock()
	defer a.reload.mu.Unlock()
	var next time.Time
	for _, ks := range a.reload.overlaps {
		for _, ov := range ks {
			if next.IsZero() || ov.until.Before(next) {
				next = ov.until
			}
		}
	}
	return next
}

// restartFields names the parts of next that differ from cur and that a
// reload cannot apply: everything but the clients, the providers' keys, the
// rotation policy and the secrets' refresh timing. Listing them refuses
// the reload; applying half of a config is never done.
func restartFields(cur, next *config.Config) []string {
	var out []string
	same := func(field string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			out = append(out, field)
		}
	}
	same("server", cur.Server, next.Server)
	same("environment", cur.Environment, next.Environment)
	same("storage", cur.Storage, next.Storage)
	same("shared", cur.Shared, next.Shared)
	same("encryption", cur.Encryption, next.Encryption)
	same("cache", cur.Cache, next.Cache)
	same("retention", cur.Retention, next.Retention)
	same("audit", cur.Audit, next.Audit)
	same("never_send", cur.NeverSend, next.NeverSend)
	same("secrets.vault", cur.Secrets.Vault, next.Secrets.Vault)
	same("secrets.aws", cur.Secrets.AWS, next.Secrets.AWS)
	same("alerts", cur.Alerts, next.Alerts)
	names := slices.Sorted(maps.Keys(cur.Providers))
	if !slices.Equal(names, slices.Sorted(maps.Keys(next.Providers))) {
		out = append(out, "providers (added or removed)")
		return out
	}
	for _, n := range names {
		a, b := *cur.Providers[n], *next.Providers[n]
		a.Keys, b.Keys = nil, nil
		same("providers."+n, a, b)
		// A key's rotated_at is metadata, reloadable; its id and
		// environment are the pool, also reloadable.
	}
	return out
}

func reloadDetail(r ReloadReport) string {
	var parts []string
	add := func(name string, v []string) {
		if len(v) > 0 {
			parts = append(parts, name+"="+strings.Join(v, ","))
		}
	}
	add("rotated", r.Rotated)
	add("added", r.Added)
	add("removed", r.Removed)
	add("stale", r.Stale)
	if r.Clients {
		parts = append(parts, "clients=changed")
	}
	return strings.Join(parts, " ")
}
