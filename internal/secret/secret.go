// Package secret holds secret references (env:, file:, vault:, awssm:), the
// Sources that resolve them (one small Source per scheme) and the Value type
// that carries a resolved secret without ever printing it.
package secret

import (
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
//
// The bytes sit behind a pointer on purpose: fmt cannot call String on a
// Value held in an unexported struct field, and would print its fields
// instead. A pointer below the top level prints as an address, so even that
// path shows no secret.
//
// Two Values holding the same secret are not ==; compare Reveal results in
// constant time (crypto/subtle) where that is ever needed.
type Value struct{ p *string }

// NewValue wraps s. NewValue("") is the zero Value.
func NewValue(s string) Value {
	if s == "" {
		return Value{}
	}
	return Value{p: &s}
}

// Reveal returns the secret. Call it only at the point of use (an outbound
// Authorization header, an HMAC key).
func (v Value) Reveal() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

// IsZero reports whether v holds no secret.
func (v Value) IsZero() bool { return v.p == nil || *v.p == "" }

func (v Value) String() string               { return Redacted }
func (v Value) GoString() string             { return Redacted }
func (v Value) LogValue() slog.Value         { return slog.StringValue(Redacted) }
func (v Value) MarshalText() ([]byte, error) { return []byte(Redacted), nil }
func (v Value) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// UnkeyedFingerprint is a short identifier of the secret: the first 8
// bytes of its SHA-256, hex. Anyone who sees it can check a guessed
// secret against it, so the gateway never stores or logs it: it uses a
// keyed HMAC (internal/app's fingerprinter). It remains for tests and
// tools that hold no data-at-rest key.
func (v Value) UnkeyedFingerprint() string {
	if v.IsZero() {
		return ""
	}
	sum := sha256.Sum256([]byte(*v.p))
	return hex.EncodeToString(sum[:8])
}
