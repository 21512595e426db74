// Package secret holds secret references (env:, file:, vault:, awssm:) and the
// Value type that carries a resolved secret without ever printing it.
package secret

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
)

// Redacted is what every printing path shows instead of a secret.
const Redacted = "[REDACTED]"

// ErrNotSupported is returned for reference schemes that parse but cannot be
// resolved yet (vault:, awssm:).
var ErrNotSupported = errors.New("not yet supported")

// Value is a resolved secret. Its zero value is "no secret". Every formatting
// path (fmt, slog, JSON, text) prints Redacted, so a Value can travel through
// structs that get logged without leaking; only Reveal returns the bytes.
type Value struct{ v string }

// NewValue wraps s.
func NewValue(s string) Value { return Value{v: s} }

// Reveal returns the secret. Call it only at the point of use (an outbound
// Authorization header, an HMAC key).
func (v Value) Reveal() string { return v.v }

// IsZero reports whether v holds no secret.
func (v Value) IsZero() bool { return v.v == "" }

func (v Value) String() string               { return Redacted }
func (v Value) GoString() string             { return Redacted }
func (v Value) LogValue() slog.Value         { return slog.StringValue(Redacted) }
func (v Value) MarshalText() ([]byte, error) { return []byte(Redacted), nil }
func (v Value) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// Fingerprint is a short, non-reversible identifier of the secret (first 8
// bytes of its SHA-256, hex) so operators can tell keys apart in logs and the
// store without seeing them.
func (v Value) Fingerprint() string {
	if v.v == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(v.v))
	return hex.EncodeToString(sum[:8])
}

// Ref is a parsed secret reference such as env:SOCIALEYE_API_KEY. The
// reference itself is not secret and prints as written.
type Ref struct {
	Scheme string // env, file, vault, awssm
	Path   string // variable name, file path, MOUNT/PATH or SECRET_ID
	Field  string // #FIELD for vault and awssm
	raw    string
}

// String returns the reference as written in config.
func (r Ref) String() string { return r.raw }

// IsZero reports whether no reference was given.
func (r Ref) IsZero() bool { return r.raw == "" }

// ParseRef parses a secret reference. TODO(config helper): implement.
func ParseRef(s string) (Ref, error) { panic("unimplemented") }

// Resolve fetches the secret a reference points to. TODO(config helper).
func Resolve(ctx context.Context, r Ref) (Value, error) { panic("unimplemented") }
