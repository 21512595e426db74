package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"time"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/gateway"
	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/observe"
)

// operator is the App as the admin API's gateway.Operator.
type operator struct{ a *App }

var _ gateway.Operator = operator{}

func (o operator) Reload(ctx context.Context, by string) (any, error) { return o.a.Reload(ctx, by) }
func (o operator) Keys(ctx context.Context) any                       { return o.a.Keys(ctx) }

func (o operator) RevokeKey(ctx context.Context, provider, keyID, by string) error {
	return o.a.RevokeKey(ctx, provider, keyID, by)
}

func (o operator) DisableClient(ctx context.Context, name, by string) error {
	return o.a.DisableClient(ctx, name, by)
}

func (o operator) EnableClient(ctx context.Context, name, by string) error {
	return o.a.EnableClient(ctx, name, by)
}

// RevokeKey takes provider's key keyID out of rotation on every replica at
// once, for as long as it holds its current secret (an operator's decision
// no re-check undoes: rotate the secret to bring the key back). It is
// audited with the operator's name, alerts, and purges the provider's
// cached answers like any revocation.
func (a *App) RevokeKey(ctx context.Context, provider, keyID, by string) error {
	err := a.calls.gov.RevokeByOperator(ctx, provider, keyID)
	switch {
	case errors.Is(err, govern.ErrUnknownKey), errors.Is(err, govern.ErrUnknownProvider):
		return gateway.ErrUnknownKey
	case err != nil:
		return fmt.Errorf("revoking provider %q key %q: %w", provider, keyID, err)
	}
	a.log.Warn("security event: upstream key revoked by an operator; out of rotation until its secret changes",
		"event", "upstream_key_revoked_by_operator", "provider", provider, "key_id", keyID, "by", by)
	a.dropOverlap(ctx, provider, keyID) // its previous secret is no fallback either
	a.observe(observe.KeyRevoked{Provider: provider, KeyID: keyID, By: by})
	return nil
}

// disableFor is how long a disable lasts when nobody ends it: in
// practice until an operator enables the client or a reload changes its
// entry (a new token, say).
const disableFor = 10 * 365 * 24 * time.Hour

func disableKey(client string) string { return "d:c:" + client }

// DisableClient turns client name's token away (401) on every replica
// (within a second) and across restarts, until an operator enables it or
// a reload changes its entry in the config. An admin cannot disable its
// own client: it would lock itself out of undoing it.
func (a *App) DisableClient(ctx context.Context, name, by string) error {
	if _, ok := a.live.Load().cfg.Clients[name]; !ok {
		return gateway.ErrUnknownClient
	}
	if name == by {
		return gateway.ErrSelfDisable
	}
	if err := a.state.PauseUntil(ctx, disableKey(name), a.now().Add(disableFor)); err != nil {
		return fmt.Errorf("disabling client %q: %w", name, err)
	}
	a.auth.disable(name)
	a.log.Warn("security event: client disabled by an operator", "event", "client_disabled", "client", name, "by", by)
	a.recorder.Admin(by, "client_disable", "client="+name, "")
	return nil
}

// EnableClient ends an operator's disable of client name.
func (a *App) EnableClient(ctx context.Context, name, by string) error {
	if _, ok := a.live.Load().cfg.Clients[name]; !ok {
		return gateway.ErrUnknownClient
	}
	if err := a.state.Unpause(ctx, disableKey(name)); err != nil {
		return fmt.Errorf("enabling client %q: %w", name, err)
	}
	a.auth.enable(name)
	a.log.Warn("security event: client enabled by an operator", "event", "client_enabled", "client", name, "by", by)
	a.recorder.Admin(by, "client_enable", "client="+name, "")
	return nil
}

// endDisables ends the disables of clients whose entry a reload changed
// or removed (a new token is the usual answer to a disabled, leaked one),
// and returns them.
func (a *App) endDisables(ctx context.Context, before, after *config.Config, by string) []string {
	var ended []string
	for _, name := range slices.Sorted(maps.Keys(before.Clients)) {
		if reflect.DeepEqual(before.Clients[name], after.Clients[name]) {
			continue
		}
		until, err := a.state.PausedUntil(ctx, disableKey(name))
		if err != nil || !until.After(a.now()) {
			continue
		}
		if err := a.state.Unpause(ctx, disableKey(name)); err != nil {
			a.log.Error("could not end the disable of a client whose entry changed; enable it by hand",
				"client", name, "error", err.Error())
			continue
		}
		a.auth.enable(name)
		a.recorder.Admin(by, "client_enable", "client="+name+" reason=config_changed", "")
		ended = append(ended, name)
	}
	return ended
}

// syncDisables copies the shared disables into the local set each second
// until ctx ends, so a disable made on another replica holds here too. A
// state it cannot read keeps the set as it is.
func (a *App) syncDisables(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		a.readDisables(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *App) readDisables(ctx context.Context) {
	now := a.now()
	var disabled []string
	for name := range a.live.Load().cfg.Clients {
		until, err := a.state.PausedUntil(ctx, disableKey(name))
		if err != nil {
			return
		}
		if until.After(now) {
			disabled = append(disabled, name)
		}
	}
	a.auth.setDisabled(disabled)
}

// KeyAge is the age of provider's key keyID, for /v1/quota.
func (o operator) KeyAge(provider, keyID string) (gateway.KeyAge, bool) {
	for _, k := range o.a.keyInfos(context.Background(), false) {
		if k.Provider == provider && k.KeyID == keyID && !k.ChangedAt.IsZero() {
			return gateway.KeyAge{ChangedAt: k.ChangedAt, Days: k.AgeDays, RotateBy: k.RotateBy, Source: k.AgeSource}, true
		}
	}
	return gateway.KeyAge{}, false
}

// dropOverlap ends provider's key keyID's rotation overlap now, if one
// runs.
func (a *App) dropOverlap(ctx context.Context, provider, keyID string) {
	a.reload.ovMu.Lock()
	ov, ok := a.reload.overlaps[provider][keyID]
	if ok {
		ov.until = time.Time{}
		a.reload.overlaps[provider][keyID] = ov
	}
	a.reload.ovMu.Unlock()
	if ok {
		a.expireOverlaps(ctx)
	}
}
