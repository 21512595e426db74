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

// warningResolver is a SecretResolver that also reports problems that do
// not stop a secret from being used (a key file readable by others);
// secret.Resolver is one. A resolver without it reports no warnings.
type warningResolver interface {
	ResolveWithWarnings(ctx context.Context, r secret.Ref) (secret.Value, []string, error)
}

// Secrets are the resolved secrets of a config. Printing it shows no
// secret (every Value prints as secret.Redacted).
type Secrets struct {
	keys       map[string]map[string]secret.Value // provider → key id → value
	encryption map[string]secret.Value
	sharedURL  secret.Value
	warnings   ErrorList
}

// Warnings are the problems found while resolving that do not stop the
// gateway (a key file group or others can read), each naming its field
// like an error does. serve logs them at start; config validate prints
// them. Nil when there are none.
func (s *Secrets) Warnings() ErrorList { return s.warnings }

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
// unreadable file are reported together at startup. The Secrets returned
// is never nil: on error it still carries the Warnings, so one run can
// report both, but none of its values may be used.
func (c *Config) ResolveSecretsWith(ctx context.Context, r SecretResolver) (*Secrets, error) {
	s := &Secrets{keys: map[string]map[string]secret.Value{}, encryption: map[string]secret.Value{}}
	var errs ErrorList
	wr, _ := r.(warningResolver)
	resolve := func(field string, ref secret.Ref) secret.Value {
		if ref.IsZero() {
			return secret.Value{}
		}
		var (
			val      secret.Value
			warnings []string
			err      error
		)
		if wr != nil {
			val, warnings, err = wr.ResolveWithWarnings(ctx, ref)
		} else {
			val, err = r.Resolve(ctx, ref)
		}
		for _, w := range warnings {
			s.warnings = append(s.warnings, &FieldError{Field: field, Line: c.lineOf(field), Msg: w})
		}
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
	s.warnings.sort()
	if err := errs.Err(); err != nil {
		return &Secrets{warnings: s.warnings}, err
	}
	return s, nil
}
