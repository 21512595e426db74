package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/store"
)

// keyAgeWarning is how old a key's rotated_at may be before startup warns.
// The monitoring issue turns this into an alert rule.
const keyAgeWarning = 90 * 24 * time.Hour

type keyEntry struct {
	id    string
	value secret.Value
}

// keyring holds the resolved upstream keys per provider and environment.
// For now a client uses the first key of its environment; the quota issue
// replaces this with pools that skip revoked or exhausted keys.
type keyring struct {
	keys map[string]map[string][]keyEntry // provider → environment → keys
}

// keySecrets is what the keyring needs from resolved config secrets.
type keySecrets interface {
	Key(provider, keyID string) (secret.Value, bool)
}

func newKeyring(ctx context.Context, cfg *config.Config, secrets keySecrets, st store.Store, log *slog.Logger) (*keyring, error) {
	now := time.Now().UTC()
	kr := &keyring{keys: map[string]map[string][]keyEntry{}}
	for name, p := range cfg.Providers {
		kr.keys[name] = map[string][]keyEntry{}
		for _, k := range p.Keys {
			v, ok := secrets.Key(name, k.ID)
			if !ok {
				return nil, fmt.Errorf("provider %q key %q: secret not resolved", name, k.ID)
			}
			kr.keys[name][k.Environment] = append(kr.keys[name][k.Environment], keyEntry{id: k.ID, value: v})
			changed, err := st.RecordKeyFingerprint(ctx, name, k.ID, v.Fingerprint(), now)
			if err != nil {
				return nil, fmt.Errorf("recording fingerprint of provider %q key %q: %w", name, k.ID, err)
			}
			if changed {
				log.Info("upstream key changed since last start (rotation)", "provider", name, "key_id", k.ID,
					"fingerprint", v.Fingerprint())
			}
			if !k.RotatedAt.IsZero() && now.Sub(k.RotatedAt.Time) > keyAgeWarning {
				log.Warn("upstream key is old; rotate it", "provider", name, "key_id", k.ID,
					"rotated_at", k.RotatedAt.Format(time.DateOnly), "age_days", int(now.Sub(k.RotatedAt.Time).Hours()/24))
			}
		}
	}
	return kr, nil
}

// Key returns the first key of environment env for provider.
func (k *keyring) Key(provider, env string) (string, secret.Value, bool) {
	ks := k.keys[provider][env]
	if len(ks) == 0 {
		return "", secret.Value{}, false
	}
	return ks[0].id, ks[0].value, true
}
