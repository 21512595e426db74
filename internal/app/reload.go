package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
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
	// Enabled are the clients disabled at run time whose disable this
	// reload ended, because their entry in the config changed.
	Enabled []string `json:"enabled,omitempty"`
	// Stale lists the secret fields whose source failed; their last good
	// value is in use.
	Stale []string `json:"stale,omitempty"`
	// Unapplied lists secret fields whose value changed at the source but
	// that only a restart applies (encryption keys, shared.url,
	// storage.dsn); the running value stays in use. A refresh reports
	// them; a reload is refused for them.
	Unapplied []string `json:"unapplied,omitempty"`
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
	sem     chan struct{} // one reload, refresh or overlap expiry at a time
	wake    chan struct{} // a reload re-arms the refresh timer
	path    string        // the config file; "" when the App was built from a config in memory
	sources secret.Sources
	// overlaps: provider → key id → overlap, under ovMu (read by the
	// refresh loop's timer without waiting for a refresh).
	ovMu     sync.Mutex
	overlaps map[string]map[string]overlap
}

func newReloader(path string, sources secret.Sources) reloader {
	return reloader{sem: make(chan struct{}, 1), wake: make(chan struct{}, 1), path: path, sources: sources}
}

// lock waits for the running reload or refresh to end, or for ctx
// (ErrReloadBusy).
func (r *reloader) lock(ctx context.Context) error {
	select {
	case r.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ErrReloadBusy
	}
}

func (r *reloader) unlock() { <-r.sem }

// Reload reads the config file again (when the App knows it) and every
// secret, and applies the result whole: it is built and validated in full
// first, and a config that does not load, a secret that cannot be
// resolved for the first time, or a change only a restart can apply
// refuses the whole reload, leaving the running config as it was. by
// names who asked ("sighup", an admin client, "cli").
func (a *App) Reload(ctx context.Context, by string) (ReloadReport, error) {
	if err := a.reload.lock(ctx); err != nil {
		a.reloadFailed(by, err)
		return ReloadReport{}, err
	}
	defer a.reload.unlock()
	cfg := a.live.Load().cfg
	fromFile := a.reload.path != ""
	if fromFile {
		var err error
		if cfg, err = loadSettled(a.reload.path); err != nil {
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
		"added", rep.Added, "removed", rep.Removed, "clients_changed", rep.Clients, "enabled", rep.Enabled,
		"stale_secrets", rep.Stale)
	a.recorder.Admin(by, "config_reload", reloadDetail(rep), "")
	a.observe(observe.ConfigReloaded{Outcome: "ok"})
	a.observe(observe.SecretsRefreshed{Outcome: "ok", Stale: len(rep.Stale)})
	return rep, nil
}

// RefreshSecrets re-reads every secret of the running config (the
// secrets.refresh timer) and applies what changed, as Reload does.
func (a *App) RefreshSecrets(ctx context.Context, by string) (ReloadReport, error) {
	if err := a.reload.lock(ctx); err != nil {
		return ReloadReport{}, err
	}
	defer a.reload.unlock()
	cur := a.live.Load()
	rep, err := a.apply(ctx, cur.cfg, by, false)
	if err != nil {
		a.log.Error("secret refresh failed; every key keeps its last good value", "by", by, "error", err.Error())
		a.observe(observe.SecretsRefreshed{Outcome: "error"})
		// Nothing was read: every secret is as stale as its last read.
		a.secretHealth.failed(cur.secrets, err)
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
// A reload (full) is refused for a start-up secret that changed; a
// refresh keeps its running value. Called with the reloader locked.
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
	// The data-at-rest keys, the Redis URL and the PostgreSQL DSN were
	// used once, to open what the gateway runs on: a new value is a
	// restart's to apply. A reload that would claim it is refused; a
	// refresh keeps the running value and says so.
	if rep.Unapplied = secrets.KeepChanged(cur.secrets, restartSecret); len(rep.Unapplied) > 0 {
		if full {
			return ReloadReport{}, fmt.Errorf("%w: the value of %s changed at its source (restart intelgate to apply it)",
				ErrRestartRequired, strings.Join(rep.Unapplied, ", "))
		}
		a.log.Warn("a secret changed at its source that only a restart applies; the running value stays in use",
			"fields", rep.Unapplied)
	}
	for _, s := range secrets.Stale() {
		rep.Stale = append(rep.Stale, s.Field)
		a.log.Warn("secret source failed; the last good value stays in use", "field", s.Field, "ref", s.Ref.String(),
			"last_read", s.ReadAt.UTC().Format(time.RFC3339), "error", s.Err.Error())
	}
	if a.jobs != nil {
		next := &live{cfg: cfg, secrets: secrets}
		if err := errors.Join(checkCallbackSecrets(next), verifiersOK(next)); err != nil {
			return ReloadReport{}, err
		}
	}
	pools, overlaps, err := a.buildPools(ctx, cfg, secrets, now, &rep)
	if err != nil {
		return ReloadReport{}, err
	}
	var authn *auth.Authenticator
	if rep.Clients = !reflect.DeepEqual(cur.cfg.Clients, cfg.Clients); rep.Clients {
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
	a.reload.ovMu.Lock()
	a.reload.overlaps = overlaps
	a.reload.ovMu.Unlock()
	if authn != nil {
		a.calls.gov.SwapClients(clientPolicies(cfg))
		a.auth.swap(authn)
		rep.Enabled = a.endDisables(ctx, cur.cfg, cfg, by)
	}
	a.live.Store(&live{cfg: cfg, secrets: secrets})
	a.secretHealth.set(secrets.Stale(), cfg.Secrets.MaxStale.Std())
	a.secretsStale(cur.secrets, secrets)
	a.alertsReloaded(cfg)
	select { // the refresh timer follows the new secrets.refresh and overlaps
	case a.reload.wake <- struct{}{}:
	default:
	}
	return rep, nil
}

// restartSecret reports whether a secret field is used only at start-up.
func restartSecret(field string) bool {
	return field == "shared.url" || field == "storage.dsn" || strings.HasPrefix(field, "encryption.keys")
}

// loadSettled loads the config file, and again if it changed while it
// was read: an editor writing it in place could otherwise hand the
// reload a truncated file that still parses (a client without its
// source_cidrs). Write it by atomic rename; after a few tries a file that
// keeps changing is refused.
func loadSettled(path string) (*config.Config, error) {
	for range 3 {
		before, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("reading the config file: %w", err)
		}
		cfg, err := config.Load(path)
		after, serr := os.Stat(path)
		if serr == nil && before.Size() == after.Size() && before.ModTime().Equal(after.ModTime()) {
			return cfg, err
		}
	}
	return nil, fmt.Errorf("the config file %s kept changing while it was read; write it by atomic rename (write a temporary file, then mv)", path)
}

// buildPools is each provider's new key pool, for the providers whose pool
// changes, with the overlap of every key rotated now or still within
// rotation.overlap. Every pool is checked before any is swapped.
func (a *App) buildPools(ctx context.Context, cfg *config.Config, secrets *config.Secrets, now time.Time, rep *ReloadReport) (map[string][]govern.Key, map[string]map[string]overlap, error) {
	a.reload.ovMu.Lock()
	running := a.reload.overlaps
	a.reload.ovMu.Unlock()
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
			ov, inOverlap := running[name][k.ID]
			switch {
			case !existed:
				rep.Added = append(rep.Added, name+"/"+k.ID)
			case old.Value.Reveal() != v.Reveal():
				rep.Rotated = append(rep.Rotated, name+"/"+k.ID)
				// A revoked secret is never the fallback: the usual answer
				// to a leak is revoke, then rotate, and the overlap must
				// not send the leaked secret again.
				ov, inOverlap = overlap{previous: old.Value, until: now.Add(window)}, window > 0 && !a.revokedNow(ctx, name, k.ID)
			}
			if inOverlap && now.Before(ov.until) && ov.previous.Reveal() != v.Reveal() {
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

// revokedNow reports whether provider's key keyID, as the pool holds it
// now, is revoked; when that cannot be read it says yes (no fallback).
func (a *App) revokedNow(ctx context.Context, provider, keyID string) bool {
	revoked, err := a.calls.gov.Revoked(ctx, provider, keyID)
	return err != nil || revoked
}

// nextOverlapEnd is when the earliest running overlap ends (zero: none),
// so the refresh loop can drop the previous secret on time.
func (a *App) nextOverlapEnd() time.Time {
	a.reload.ovMu.Lock()
	defer a.reload.ovMu.Unlock()
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
	add("enabled", r.Enabled)
	add("unapplied", r.Unapplied)
	if r.Clients {
		parts = append(parts, "clients=changed")
	}
	return strings.Join(parts, " ")
}
