package config

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/intelgate/intelgate/internal/secret"
)

// Secrets are the resolved secrets of a config. Printing it shows no
// secret (every Value prints as secret.Redacted).
type Secrets struct {
	fields   map[string]SecretEntry // field path → entry
	warnings ErrorList
	stale    []StaleSecret
}

// SecretEntry is one resolved secret: its value, what its source says
// about it, and when it was last read successfully.
type SecretEntry struct {
	Ref secret.Ref
	secret.Secret
	// ReadAt is when the value was last read from its source. A value
	// kept after a failed refresh keeps the ReadAt of its last good read.
	ReadAt time.Time
}

// StaleSecret is a secret whose refresh failed and whose last good value
// is used instead (see ResolveSecretsOver).
type StaleSecret struct {
	Field  string
	Ref    secret.Ref
	Err    error     // names the reference, never the value
	ReadAt time.Time // the last good read
}

// Warnings are the problems found while resolving that do not stop the
// gateway (a key file group or others can read), each naming its field
// like an error does. serve logs them at start; config validate prints
// them. Nil when there are none.
func (s *Secrets) Warnings() ErrorList { return s.warnings }

// Stale lists the secrets whose last refresh failed and whose last good
// value is in use, in field order. Nil when every source answered.
func (s *Secrets) Stale() []StaleSecret { return s.stale }

// Entry returns the secret of field (a path such as
// "providers.socialeye.keys[0].secret"), and whether there is one.
func (s *Secrets) Entry(field string) (SecretEntry, bool) {
	e, ok := s.fields[field]
	return e, ok && !e.Value.IsZero()
}

// Fields lists the field paths of every resolved secret, sorted.
func (s *Secrets) Fields() []string { return slices.Sorted(maps.Keys(s.fields)) }

// KeyField is the field path of a provider key's secret in c, "" when
// there is no such key.
func (c *Config) KeyField(provider, keyID string) string {
	p := c.Providers[provider]
	if p == nil {
		return ""
	}
	for i, k := range p.Keys {
		if k.ID == keyID {
			return fmt.Sprintf("providers.%s.keys[%d].secret", provider, i)
		}
	}
	return ""
}

// Key returns the secret of a provider's key, and whether there is one.
func (s *Secrets) Key(provider, keyID string) (secret.Value, bool) {
	e, ok := s.KeyEntry(provider, keyID)
	return e.Value, ok
}

// KeyEntry returns the secret of a provider's key with its metadata.
func (s *Secrets) KeyEntry(provider, keyID string) (SecretEntry, bool) {
	e, ok := s.fields[keyFieldID(provider, keyID)]
	return e, ok && !e.Value.IsZero()
}

// EncryptionKey returns the data-at-rest key with id, and whether there is
// one.
func (s *Secrets) EncryptionKey(id string) (secret.Value, bool) {
	e, ok := s.fields["encryption.keys#"+id]
	return e.Value, ok && !e.Value.IsZero()
}

// SharedURL returns the resolved shared.url (zero when not set).
func (s *Secrets) SharedURL() secret.Value { return s.fields["shared.url"].Value }

// StorageDSN returns the resolved storage.dsn of the postgres driver
// (zero with sqlite, whose dsn is a file path).
func (s *Secrets) StorageDSN() secret.Value { return s.fields["storage.dsn"].Value }

// Len is the number of secrets resolved.
func (s *Secrets) Len() int {
	n := 0
	for k, e := range s.fields {
		if !e.Value.IsZero() && !isAlias(k) {
			n++
		}
	}
	return n
}

// keyFieldID is the lookup name of a provider key (its id, not its index:
// a reload may reorder keys).
func keyFieldID(provider, keyID string) string { return "providers." + provider + ".keys#" + keyID }

func isAlias(k string) bool { return strings.Contains(k, "#") }

// ResolveSecrets resolves every secret reference in c with
// secret.DefaultSources: the process environment and files. See
// ResolveSecretsWith.
func (c *Config) ResolveSecrets(ctx context.Context) (*Secrets, error) {
	return c.ResolveSecretsWith(ctx, secret.DefaultSources())
}

// ResolveSecretsWith resolves every provider key, encryption key,
// shared.url and storage.dsn with src, each reference by its scheme's
// source, so a new backend (Vault, AWS Secrets Manager) or a test's fake
// is one secret.Source passed to Sources.With. It tries them all and
// returns an ErrorList naming each field that failed — never a value — so
// a missing variable and an unreadable file are reported together at
// startup. The Secrets returned is never nil: on error it still carries
// the Warnings, so one run can report both, but none of its values may be
// used.
func (c *Config) ResolveSecretsWith(ctx context.Context, src secret.Sources) (*Secrets, error) {
	return c.ResolveSecretsOver(ctx, src, nil, time.Now())
}

// secretField is one secret reference of the config.
type secretField struct {
	field string // as errors name it: providers.x.keys[0].secret
	alias string // the id-based name it is also found by, "" if none
	ref   secret.Ref
	min   int // shortest value accepted, in bytes (encryption keys)
}

func (c *Config) secretFields() []secretField {
	var out []secretField
	for _, name := range slices.Sorted(maps.Keys(c.Providers)) {
		for i, k := range c.Providers[name].Keys {
			out = append(out, secretField{field: fmt.Sprintf("providers.%s.keys[%d].secret", name, i),
				alias: keyFieldID(name, k.ID), ref: k.Secret})
		}
	}
	for i, k := range c.Encryption.Keys {
		out = append(out, secretField{field: fmt.Sprintf("encryption.keys[%d].secret", i),
			alias: "encryption.keys#" + k.ID, ref: k.Secret, min: MinEncryptionSecretBytes})
	}
	out = append(out, secretField{field: "shared.url", ref: c.Shared.URL})
	if ref, ok := c.Storage.DSNRef(); ok && c.Storage.Driver == "postgres" {
		out = append(out, secretField{field: "storage.dsn", ref: ref})
	}
	out = append(out, c.alertSecretFields()...)
	out = append(out, c.webhookSecretFields()...)
	for _, name := range slices.Sorted(maps.Keys(c.Clients)) {
		if cl := c.Clients[name]; cl != nil && cl.Callbacks != nil {
			out = append(out, secretField{field: "clients." + name + ".callbacks.secret", ref: cl.Callbacks.Secret.WithBaseDir(c.BaseDir)})
		}
	}
	return out
}

// ResolveSecretsOver is ResolveSecretsWith for a refresh: a reference that
// fails now but was resolved in prev from the same reference keeps prev's
// value (and its ReadAt) and is listed in Stale instead of failing. A
// reference new since prev, or changed, has nothing to fall back on and
// fails as at start-up. now is the ReadAt of what is read.
func (c *Config) ResolveSecretsOver(ctx context.Context, src secret.Sources, prev *Secrets, now time.Time) (*Secrets, error) {
	s := &Secrets{fields: map[string]SecretEntry{}}
	var errs ErrorList
	fields := slices.DeleteFunc(c.secretFields(), func(f secretField) bool { return f.ref.IsZero() })
	refs := make([]secret.Ref, len(fields))
	for i, f := range fields {
		refs[i] = f.ref
	}
	results := src.FetchAll(ctx, refs)
	for i, f := range fields {
		r := results[i]
		line := c.lineOf(f.field)
		for _, w := range r.Warnings {
			s.warnings = append(s.warnings, &FieldError{Field: f.field, Line: line, Msg: w})
		}
		err := r.Err
		if err == nil && f.min > 0 && len(r.Value.Reveal()) < f.min {
			err = fmt.Errorf("the secret is %d bytes; a data-at-rest key must be at least %d bytes (e.g. openssl rand -base64 32)",
				len(r.Value.Reveal()), f.min)
		}
		entry := SecretEntry{Ref: f.ref, Secret: r.Secret, ReadAt: now}
		if err != nil {
			// A value that cannot be used now, read or not, falls back on
			// the last good one like an unreachable source does: one bad
			// write into a secret store must not stop every other
			// secret's refresh.
			old, ok := prev.fallback(f)
			if !ok {
				errs = append(errs, &FieldError{Field: f.field, Line: line, Msg: fmt.Sprintf("%s: %v", f.ref, err), Err: err})
				continue
			}
			entry = old
			s.stale = append(s.stale, StaleSecret{Field: f.field, Ref: f.ref, Err: err, ReadAt: old.ReadAt})
		}
		entry.Warnings = nil
		s.fields[f.field] = entry
		if f.alias != "" {
			s.fields[f.alias] = entry
		}
	}
	s.warnings.sort()
	if err := errs.Err(); err != nil {
		return &Secrets{warnings: s.warnings}, err
	}
	return s, nil
}

// fallback is the value f had in s when it came from the same reference.
func (s *Secrets) fallback(f secretField) (SecretEntry, bool) {
	if s == nil {
		return SecretEntry{}, false
	}
	name := f.field
	if f.alias != "" {
		name = f.alias // a key keeps its value by id, wherever it moved in the list
	}
	e, ok := s.fields[name]
	if !ok || e.Value.IsZero() || e.Ref.String() != f.ref.String() {
		return SecretEntry{}, false
	}
	return e, true
}

// KeepChanged puts back prev's value for every field which selects whose
// value changed since prev (a refresh that must not apply it), and returns
// those fields, sorted, as errors name them.
func (s *Secrets) KeepChanged(prev *Secrets, which func(field string) bool) []string {
	if prev == nil {
		return nil
	}
	var changed []string
	for field, e := range s.fields {
		old, ok := prev.fields[field]
		if !which(field) || !ok || old.Value.Reveal() == e.Value.Reveal() {
			continue
		}
		s.fields[field] = old
		if !isAlias(field) {
			changed = append(changed, field)
		}
	}
	slices.Sort(changed)
	return changed
}

// AllStale is every secret of s as stale since its last read, with err:
// what a refresh that read nothing leaves.
func (s *Secrets) AllStale(err error) []StaleSecret {
	var out []StaleSecret
	for _, field := range s.Fields() {
		if isAlias(field) {
			continue
		}
		e := s.fields[field]
		out = append(out, StaleSecret{Field: field, Ref: e.Ref, Err: err, ReadAt: e.ReadAt})
	}
	return out
}
