package app

import (
	"context"
	"errors"
	"fmt"

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

func (o operator) DisableClient(_ context.Context, name, by string) error {
	return o.a.DisableClient(name, by)
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
	a.observe(observe.KeyRevoked{Provider: provider, KeyID: keyID, By: by})
	return nil
}

// DisableClient turns client name's token away (401) until the next
// reload or restart. An admin cannot disable its own client: it would
// lock itself out of undoing it.
func (a *App) DisableClient(name, by string) error {
	if _, ok := a.live.Load().cfg.Clients[name]; !ok {
		return gateway.ErrUnknownClient
	}
	if name == by {
		return gateway.ErrSelfDisable
	}
	if a.auth.disable(name) {
		a.log.Warn("security event: client disabled by an operator until the next reload", "event", "client_disabled",
			"client", name, "by", by)
		a.recorder.Admin(by, "client_disable", "client="+name, "")
	}
	return nil
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
