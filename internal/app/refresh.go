package app

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/monitor"
	"github.com/intelgate/intelgate/internal/observe"
	"github.com/intelgate/intelgate/internal/secret"
)

// runRefresh re-reads every secret each secrets.refresh, and ends each
// rotation's overlap on time (dropping the previous secret without
// reading any source), until ctx ends. A reload re-arms it, so a new
// secrets.refresh or a new overlap takes effect at once. The schedule runs
// on the wall clock: an injected test clock that advances when waited on
// would spin it.
func (a *App) runRefresh(ctx context.Context) {
	due := time.Now().Add(a.live.Load().cfg.Secrets.Refresh.Std())
	for {
		wait := time.Until(due)
		if end := a.nextOverlapEnd(); !end.IsZero() {
			wait = min(wait, end.Sub(a.now())+time.Millisecond)
		}
		t := time.NewTimer(max(wait, minRefreshWait))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-a.reload.wake:
			t.Stop()
			due = time.Now().Add(a.live.Load().cfg.Secrets.Refresh.Std())
			continue
		case <-t.C:
		}
		a.expireOverlaps(ctx)
		if !time.Now().Before(due) {
			_, _ = a.RefreshSecrets(ctx, "timer") // logged and counted inside
			due = time.Now().Add(a.live.Load().cfg.Secrets.Refresh.Std())
		}
	}
}

// minRefreshWait keeps the loop from spinning whatever the clocks say.
const minRefreshWait = 100 * time.Millisecond

// expireOverlaps drops the previous secret of every key whose overlap has
// ended: the pool is swapped for the same keys without it. No source is
// read, so a failing source cannot keep an old secret in use.
func (a *App) expireOverlaps(ctx context.Context) {
	if err := a.reload.lock(ctx); err != nil {
		return
	}
	defer a.reload.unlock()
	now := a.now()
	a.reload.ovMu.Lock()
	ended := map[string][]string{}
	for provider, ks := range a.reload.overlaps {
		for id, ov := range ks {
			if !now.Before(ov.until) {
				ended[provider] = append(ended[provider], id)
				delete(ks, id)
			}
		}
		if len(ks) == 0 {
			delete(a.reload.overlaps, provider)
		}
	}
	a.reload.ovMu.Unlock()
	for provider, ids := range ended {
		keys := a.calls.gov.Keys(provider)
		for i := range keys {
			if slices.Contains(ids, keys[i].ID) {
				keys[i].Previous = secret.Value{}
			}
		}
		if err := a.swapKeys(provider, keys, "gateway"); err != nil {
			a.log.Error("could not end a rotation's overlap", "provider", provider, "error", err.Error())
			continue
		}
		a.log.Info("rotation overlap ended: the previous secret is no longer used", "provider", provider, "key_ids", ids)
	}
}

// secretHealth is the readiness of the secrets: degraded while a source
// fails (its last good value in use), not ready once a value has not been
// read for longer than secrets.max_stale.
type secretHealth struct {
	mu       sync.Mutex
	stale    []config.StaleSecret
	maxStale time.Duration
	now      func() time.Time
}

func (h *secretHealth) set(stale []config.StaleSecret, maxStale time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stale, h.maxStale = slices.Clone(stale), maxStale
}

// failed records a refresh that applied nothing: every secret of cur is
// as stale as its last good read.
func (h *secretHealth) failed(cur *config.Secrets, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stale = cur.AllStale(err)
}

// degraded is /readyz's "secrets" dependency that degrades: an error
// naming the failing fields while any source fails.
type degradedSecrets struct{ h *secretHealth }

func (d degradedSecrets) Ping(context.Context) error {
	d.h.mu.Lock()
	defer d.h.mu.Unlock()
	if len(d.h.stale) == 0 {
		return nil
	}
	fields := make([]string, len(d.h.stale))
	for i, s := range d.h.stale {
		fields[i] = s.Field
	}
	return fmt.Errorf("secret source failing; last good value in use for %s", strings.Join(fields, ", "))
}

// freshSecrets is /readyz's "secrets_fresh" dependency: an error once a
// failing source's last good value is older than secrets.max_stale — a
// key that old may well have been rotated away, and a replica serving on
// it should leave the load balancer's pool.
type freshSecrets struct{ h *secretHealth }

func (f freshSecrets) Ping(context.Context) error {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	now := f.h.now()
	var old []string
	for _, s := range f.h.stale {
		if now.Sub(s.ReadAt) > f.h.maxStale {
			old = append(old, s.Field)
		}
	}
	if len(old) > 0 {
		return fmt.Errorf("secrets not read for more than secrets.max_stale (%s): %s", f.h.maxStale, strings.Join(old, ", "))
	}
	return nil
}

// observe reports e to the App's observers (metrics, audit, alerts).
func (a *App) observe(e observe.Event) {
	if a.obs != nil {
		a.obs.Observe(context.Background(), e)
	}
}

func (a *App) now() time.Time {
	if a.clock != nil {
		return a.clock.Now()
	}
	return time.Now()
}

// KeyInfo is what the admin API and /v1/quota show of an upstream key:
// never its secret, only a keyed fingerprint and its age.
type KeyInfo struct {
	Provider    string    `json:"provider"`
	KeyID       string    `json:"key_id"`
	Environment string    `json:"environment"`
	Fingerprint string    `json:"fingerprint"`
	Version     string    `json:"version,omitempty"`
	ChangedAt   time.Time `json:"changed_at,omitzero"` // zero: unknown
	// AgeSource says where ChangedAt comes from: the secret store that
	// wrote the value ("vault", "awssm"), "rotated_at" (the config), or ""
	// when unknown.
	AgeSource string `json:"age_source,omitempty"`
	AgeDays   int    `json:"age_days,omitempty"`
	// RotateBy is ChangedAt + rotation.period.
	RotateBy time.Time `json:"rotate_by,omitzero"`
	Stale    bool      `json:"stale,omitempty"` // its source failed; the last good value is in use
	// Revoked: out of rotation, by "operator" or by the "auth_check"
	// (RevokedBy); "" when the state could not be read.
	Revoked   bool   `json:"revoked"`
	RevokedBy string `json:"revoked_by,omitempty"`
}

// Keys describes every configured upstream key, in provider then config
// order, with its revocation state (read from the shared state: ctx
// bounds it).
func (a *App) Keys(ctx context.Context) []KeyInfo { return a.keyInfos(ctx, true) }

func (a *App) keyInfos(ctx context.Context, withState bool) []KeyInfo {
	l := a.live.Load()
	fp := fingerprinter(a.keyring)
	now := a.now()
	stale := map[string]bool{}
	for _, s := range l.secrets.Stale() {
		stale[s.Field] = true
	}
	var out []KeyInfo
	for _, name := range slices.Sorted(maps.Keys(l.cfg.Providers)) {
		for _, k := range l.cfg.Providers[name].Keys {
			e, ok := l.secrets.KeyEntry(name, k.ID)
			if !ok {
				continue
			}
			ki := KeyInfo{Provider: name, KeyID: k.ID, Environment: k.Environment, Fingerprint: fp(e.Value),
				Version: e.Version, Stale: stale[l.cfg.KeyField(name, k.ID)]}
			switch {
			case !e.ChangedAt.IsZero():
				ki.ChangedAt, ki.AgeSource = e.ChangedAt.UTC(), e.Ref.Scheme
			case !k.RotatedAt.IsZero():
				ki.ChangedAt, ki.AgeSource = k.RotatedAt.UTC(), "rotated_at"
			}
			if !ki.ChangedAt.IsZero() {
				ki.AgeDays = int(max(now.Sub(ki.ChangedAt), 0) / (24 * time.Hour))
				ki.RotateBy = ki.ChangedAt.Add(l.cfg.Rotation.Period.Std())
			}
			if withState {
				a.revocationOf(ctx, &ki)
			}
			out = append(out, ki)
		}
	}
	return out
}

// revocationOf fills in k's revocation state; a state it cannot read is
// left unknown (the admin API shows the rest).
func (a *App) revocationOf(ctx context.Context, k *KeyInfo) {
	revoked, err := a.calls.gov.Revoked(ctx, k.Provider, k.KeyID)
	if err != nil || !revoked {
		return
	}
	k.Revoked, k.RevokedBy = true, "auth_check"
	if byOperator, err := a.calls.gov.RevokedByOperator(ctx, k.Provider, k.KeyID); err == nil && byOperator {
		k.RevokedBy = "operator"
	}
}

// KeyAges is Keys for the key-age metric: ages only, no state reads.
func (a *App) KeyAges() []monitor.KeyAge {
	keys := a.keyInfos(context.Background(), false)
	out := make([]monitor.KeyAge, len(keys))
	for i, k := range keys {
		out[i] = monitor.KeyAge{Provider: k.Provider, KeyID: k.KeyID, ChangedAt: k.ChangedAt}
	}
	return out
}
