package config

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/intelgate/intelgate/internal/secret"
)

// SecretResolver fetches one secret; secret.Resolver satisfies it. A later
// issue passes one that also reaches Vault and AWS Secrets Manager.
type SecretResolver interface {
	Resolve(ctx context.Context, r secret.Ref) (secret.Value, error)
}

// Secrets are the resolved secrets of a config. Printing it shows no
// secret (every Value prints as secret.Redacted).
type Secrets struct {
	keys       map[string]map[string]secret.Value // provider → key id → value
	encryption map[string]secret.Value
	sharedURL  secret.Value
}

// Key returns the secret of a provider's key, and whether there is one.
func (s *Secrets) Key(provider, keyID string) (secret.Value, bool) {
	v, ok := s.keys[provider][keyID]
	return v, ok && !v.IsZero()
}

// EncryptionKey returns the data-at-rest key with id, and whether there is
// one.
func (s *Secrets) EncryptionKey(id string) (secret.Value, bool) {
	v, ok := s.encryption[id]
	return v, ok && !v.IsZero()
}

// SharedURL returns the resolved shared.url (zero when not set).
func (s *Secrets) SharedURL() secret.Value { return s.sharedURL }

// Len is the number of secrets resolved.
func (s *Secrets) Len() int {
	n := len(s.encryption)
	for _, ks := range s.keys {
		n += len(ks)
	}
	if !s.sharedURL.IsZero() {
		n++
	}
	return n
}

// ResolveSecrets resolves every secret reference in c from the process
// environment and files. See ResolveSecretsWith.
func (c *Config) ResolveSecrets(ctx context.Context) (*Secrets, error) {
	return c.ResolveSecretsWith(ctx, secret.Resolver{})
}

// ResolveSecretsWith resolves every provider key, encryption key and
// shared.url with r. It tries them all and returns an ErrorList naming each
// field that failed — never a value — so a missing variable and an
// unreadable file are reported together at startup.
func (c *Config) ResolveSecretsWith(ctx context.Context, r SecretResolver) (*Secrets, error) {
	s := &Secrets{keys: map[string]map[string]secret.Value{}, encryption: map[string]secret.Value{}}
	var errs ErrorList
	resolve := func(field string, ref secret.Ref) secret.Value {
		if ref.IsZero() {
			return secret.Value{}
		}
		val, err := r.Resolve(ctx, ref)
		if err != nil {
			errs = append(errs, &FieldError{Field: field, Line: c.lineOf(field), Msg: fmt.Sprintf("%s: %v", ref, err), Err: err})
		}
		return val
	}
	for _, name := range slices.Sorted(maps.Keys(c.Providers)) {
		s.keys[name] = map[string]secret.Value{}
		for i, k := range c.Providers[name].Keys {
			s.keys[name][k.ID] = resolve(fmt.Sprintf("providers.%s.keys[%d].secret", name, i), k.Secret)
		}
	}
	for i, k := range c.Encryption.Keys {
		s.encryption[k.ID] = resolve(fmt.Sprintf("encryption.keys[%d].secret", i), k.Secret)
	}
	s.sharedURL = resolve("shared.url", c.Shared.URL)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return s, nil
}
