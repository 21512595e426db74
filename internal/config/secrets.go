package config

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/intelgate/intelgate/internal/secret"
)

// Secrets are the resolved secrets of a config. Printing it shows no
// secret (every Value prints as secret.Redacted).
type Secrets struct {
	keys       map[string]map[string]secret.Value // provider → key id → value
	encryption map[string]secret.Value
	sharedURL  secret.Value
	storageDSN secret.Value
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

// StorageDSN returns the resolved storage.dsn of the postgres driver
// (zero with sqlite, whose dsn is a file path).
func (s *Secrets) StorageDSN() secret.Value { return s.storageDSN }

// Len is the number of secrets resolved.
func (s *Secrets) Len() int {
	n := len(s.encryption)
	for _, ks := range s.keys {
		n += len(ks)
	}
	for _, v := range []secret.Value{s.sharedURL, s.storageDSN} {
		if !v.IsZero() {
			n++
		}
	}
	return n
}

// ResolveSecrets resolves every secret reference in c with
// secret.DefaultSources: the process environment and files. See
// ResolveSecretsWith.
func (c *Config) ResolveSecrets(ctx context.Context) (*Secrets, error) {
	return c.ResolveSecretsWith(ctx, secret.DefaultSources())
}

// ResolveSecretsWith resolves every provider key, encryption key and
// shared.url with src, each reference by its scheme's source, so a new
// backend (Vault, AWS Secrets Manager) or a test's fake is one
// secret.Source passed to Sources.With. It tries them all and returns an
// ErrorList naming each field that failed — never a value — so a missing
// variable and an unreadable file are reported together at startup. The
// Secrets returned is never nil: on error it still carries the Warnings,
// so one run can report both, but none of its values may be used.
func (c *Config) ResolveSecretsWith(ctx context.Context, src secret.Sources) (*Secrets, error) {
	s := &Secrets{keys: map[string]map[string]secret.Value{}, encryption: map[string]secret.Value{}}
	var errs ErrorList
	resolve := func(field string, ref secret.Ref) secret.Value {
		if ref.IsZero() {
			return secret.Value{}
		}
		val, warnings, err := src.ResolveWithWarnings(ctx, ref)
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
		field := fmt.Sprintf("encryption.keys[%d].secret", i)
		val := resolve(field, k.Secret)
		if !val.IsZero() && len(val.Reveal()) < MinEncryptionSecretBytes {
			errs = append(errs, &FieldError{Field: field, Line: c.lineOf(field), Msg: fmt.Sprintf(
				"%s: the secret is %d bytes; a data-at-rest key must be at least %d bytes (e.g. openssl rand -base64 32)",
				k.Secret, len(val.Reveal()), MinEncryptionSecretBytes)})
		}
		s.encryption[k.ID] = val
	}
	s.sharedURL = resolve("shared.url", c.Shared.URL)
	if ref, ok := c.Storage.DSNRef(); ok && c.Storage.Driver == "postgres" {
		s.storageDSN = resolve("storage.dsn", ref)
	}
	s.warnings.sort()
	if err := errs.Err(); err != nil {
		return &Secrets{warnings: s.warnings}, err
	}
	return s, nil
}
