package app

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/observe"
	"github.com/intelgate/intelgate/internal/seal"
	"github.com/intelgate/intelgate/internal/store"
)

// keyAgeWarning is how old a key's rotated_at may be before startup warns.
// The monitoring issue turns this into an alert rule.
const keyAgeWarning = 90 * 24 * time.Hour

// minKeyLen is the shortest upstream key start-up accepts without a
// warning. Vendors issue keys of 32 characters and more; a shorter one is
// usually a placeholder ("demo", "test"), and the reflection check would
// find it in answers that merely contain the same word.
const minKeyLen = 16

// resolveKeys turns each provider's configured keys into the governor's key
// pool, records each key's fingerprint (logging a rotation when it changed
// since the last start, and returning the providers it happened to, whose
// cached answers must go) and warns about old keys.
func resolveKeys(ctx context.Context, cfg *config.Config, secrets *config.Secrets, st store.Store, kr *seal.Keyring, log *slog.Logger) (map[string][]govern.Key, map[string][]string, error) {
	now := time.Now().UTC()
	fp := fingerprinter(kr)
	out := map[string][]govern.Key{}
	rotated := map[string][]string{} // provider → ids of its keys that changed
	for name, p := range cfg.Providers {
		for _, k := range p.Keys {
			v, ok := secrets.Key(name, k.ID)
			if !ok {
				return nil, nil, fmt.Errorf("provider %q key %q: secret not resolved", name, k.ID)
			}
			out[name] = append(out[name], govern.Key{ID: k.ID, Environment: k.Environment, Value: v})
			changed, err := st.RecordKeyFingerprint(ctx, name, k.ID, fp(v), now, olderFingerprints(kr, v)...)
			if err != nil {
				return nil, nil, fmt.Errorf("recording fingerprint of provider %q key %q: %w", name, k.ID, err)
			}
			if changed {
				log.Info("upstream key changed since last start (rotation)", "provider", name, "key_id", k.ID,
					"fingerprint", fp(v))
				rotated[name] = append(rotated[name], k.ID)
			}
			if n := len(v.Reveal()); n < minKeyLen {
				log.Warn("upstream key is short: the reflection check matches it as written, so innocent answers containing the same text are refused",
					"provider", name, "key_id", k.ID, "length", n, "recommended_min", minKeyLen)
			}
			if !k.RotatedAt.IsZero() && now.Sub(k.RotatedAt.Time) > keyAgeWarning {
				log.Warn("upstream key is old; rotate it", "provider", name, "key_id", k.ID,
					"rotated_at", k.RotatedAt.Format(time.DateOnly), "age_days", int(now.Sub(k.RotatedAt.Time).Hours()/24))
			}
		}
	}
	return out, rotated, nil
}

// forgetRotations makes the next start see rotated's keys as changed
// again: a start that failed before its rotation purge was done must not
// leave the old key's answers cached for good. The fingerprint stored is
// one no secret has.
func forgetRotations(ctx context.Context, st store.Store, rotated map[string][]string, log *slog.Logger) {
	for name, ids := range rotated {
		for _, id := range ids {
			if _, err := st.RecordKeyFingerprint(ctx, name, id, "rotation-not-purged", time.Now().UTC()); err != nil {
				log.Error("could not mark a key rotation as not purged; purge the provider's cache by hand",
					"provider", name, "key_id", id, "error", err)
			}
		}
	}
}

// adoptRevocations carries every running revocation recorded under an
// older data-at-rest key's name of a secret to its current name (see
// govern.Governor.AdoptRevocation): a data-at-rest key rotation must not
// put a refused upstream key back into rotation.
func adoptRevocations(ctx context.Context, gov *govern.Governor, keys map[string][]govern.Key, kr *seal.Keyring, log *slog.Logger) error {
	if len(kr.IDs()) < 2 {
		return nil
	}
	for name, ks := range keys {
		for _, k := range ks {
			adopted, err := gov.AdoptRevocation(ctx, name, k.ID, olderFingerprints(kr, k.Value))
			if err != nil {
				return err
			}
			if adopted {
				log.Info("revocation carried to the new data-at-rest key's name of the secret", "provider", name, "key_id", k.ID)
			}
		}
	}
	return nil
}

// recordSwap audits and logs the rotations a live key swap made, with the
// keyed fingerprints of the secret before and after (never a secret), and
// stores the new secrets' fingerprints, so the next start does not take
// them for a rotation again (and purge the provider's cache twice).
func (a *App) recordSwap(provider string, before, keys []govern.Key, changed []string, by string) {
	if len(changed) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fp := fingerprinter(a.keyring)
	for _, k := range keys {
		if !slices.Contains(changed, k.ID) {
			continue
		}
		previous := ""
		if i := slices.IndexFunc(before, func(o govern.Key) bool { return o.ID == k.ID }); i >= 0 {
			previous = fp(before[i].Value)
		}
		a.log.Info("upstream key rotated: new requests use the new secret", "event", "upstream_key_rotated",
			"provider", provider, "key_id", k.ID, "fingerprint", fp(k.Value), "previous_fingerprint", previous, "by", by)
		a.recorder.KeyRotatedFrom(provider, k.ID, by, previous, fp(k.Value))
		a.observe(observe.KeyRotated{Provider: provider, KeyID: k.ID})
		if _, err := a.store.RecordKeyFingerprint(ctx, provider, k.ID, fp(k.Value), time.Now().UTC()); err != nil {
			a.log.Error("could not store a swapped key's fingerprint; the next start will purge its cached answers again",
				"provider", provider, "key_id", k.ID, "error", err.Error())
		}
	}
}
