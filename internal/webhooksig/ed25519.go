package webhooksig

import (
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"
)

// The prefixes Standard Webhooks gives ed25519 keys (v1a), so that a key
// says what it is and cannot be used as the other kind by mistake.
const (
	PublicKeyPrefix  = "whpk_"
	SigningKeyPrefix = "whsk_"
)

// Errors of ParsePublicKey and ParseSigningKey. Neither holds the key: a
// signing key pasted where a public key belongs must not reach a log.
var (
	ErrPublicKey  = errors.New("webhook public key must be whpk_ followed by base64 of a 32-byte ed25519 public key")
	ErrSigningKey = errors.New("webhook signing key must be whsk_ followed by base64 of an ed25519 private key (its 32-byte seed, or the 64-byte seed and public key)")
)

// PublicKey is a whpk_ ed25519 public key: it verifies v1a signatures.
// It is not a secret and prints as its whpk_ form.
type PublicKey struct {
	key ed25519.PublicKey
}

// ParsePublicKey reads "whpk_<base64 of 32 bytes>". The prefix is
// required: it is what tells a public key from a whsec_ secret in a list
// of mixed keys.
func ParsePublicKey(s string) (PublicKey, error) {
	rest, ok := strings.CutPrefix(s, PublicKeyPrefix)
	if !ok {
		return PublicKey{}, ErrPublicKey
	}
	raw, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return PublicKey{}, ErrPublicKey
	}
	return PublicKey{key: ed25519.PublicKey(raw)}, nil
}

// String is the key's whpk_ form.
func (p PublicKey) String() string {
	return PublicKeyPrefix + base64.StdEncoding.EncodeToString(p.key)
}

func (p PublicKey) verify(message, sig []byte) bool {
	return len(p.key) == ed25519.PublicKeySize && ed25519.Verify(p.key, message, sig)
}

// SigningKey is a whsk_ ed25519 private key: it signs v1a. It is held
// behind a pointer and prints as [REDACTED], so no fmt verb shows it.
type SigningKey struct {
	k *signingKey
}

type signingKey struct {
	priv ed25519.PrivateKey
}

// ParseSigningKey reads "whsk_<base64>" of a 32-byte seed or a 64-byte
// ed25519 private key (seed then public key, as crypto/ed25519 and most
// libraries write it); in the latter the public half must match the seed.
// The error never holds the key.
func ParseSigningKey(s string) (SigningKey, error) {
	rest, ok := strings.CutPrefix(s, SigningKeyPrefix)
	if !ok {
		return SigningKey{}, ErrSigningKey
	}
	raw, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return SigningKey{}, ErrSigningKey
	}
	defer clear(raw)
	switch len(raw) {
	case ed25519.SeedSize:
		return SigningKey{k: &signingKey{priv: ed25519.NewKeyFromSeed(raw)}}, nil
	case ed25519.PrivateKeySize:
		priv := ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize])
		if subtle.ConstantTimeCompare(priv[ed25519.SeedSize:], raw[ed25519.SeedSize:]) != 1 {
			return SigningKey{}, ErrSigningKey
		}
		return SigningKey{k: &signingKey{priv: priv}}, nil
	default:
		return SigningKey{}, ErrSigningKey
	}
}

// String never shows the key.
func (SigningKey) String() string { return "[REDACTED]" }

// Public returns the whpk_ key that verifies this key's signatures.
func (k SigningKey) Public() PublicKey {
	if k.k == nil {
		return PublicKey{}
	}
	return PublicKey{key: k.k.priv.Public().(ed25519.PublicKey)}
}

// Sign returns the Standard Webhooks headers that authenticate payload as
// message id sent at ts, with one v1a signature.
func (k SigningKey) Sign(id string, ts time.Time, payload []byte) (http.Header, error) {
	if err := checkSignID(id); err != nil {
		return nil, err
	}
	if k.k == nil {
		return nil, errors.New("signing webhook: the zero SigningKey has no key")
	}
	h := standardHeaders(id, ts, "")
	sig := ed25519.Sign(k.k.priv, signedContent(id, h.Get(HeaderTimestamp), payload))
	h.Set(HeaderSignature, "v1a,"+base64.StdEncoding.EncodeToString(sig))
	return h, nil
}
