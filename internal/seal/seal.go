// Package seal protects data at rest: it seals cache records with
// AES-256-GCM and derives the keyed HMACs that index them, so that the
// SQLite file or a Redis dump holds neither a body nor an indicator, and
// an attacker with the storage but not the key can neither read a record,
// forge one, nor move one to another index.
//
// A Keyring holds one or more keys. The first one writes; all of them
// read, so that a key can be rotated without dropping the cache: put the
// new key first, keep the old one after it until every record has been
// re-sealed (lazily on read, or by a rekey pass), then remove it.
//
// Record format, version 1:
//
//	+---------+-----------+-----------+----------------------------------+
//	| version | id length | key id    | AES-256-GCM output               |
//	| 1 byte  | 1 byte    | 1..64 B   | nonce (12) || ciphertext || tag  |
//	+---------+-----------+-----------+----------------------------------+
//
// The GCM additional data is the header (version, id length, key id)
// followed by the caller's associated data, so that neither the version
// nor the key id can be changed without Open failing. The header is
// self-delimiting, hence header||ad is unambiguous.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"unicode"
	"unicode/utf8"
)

const (
	// version is the first byte of every record this package writes.
	version = 1
	// MinSecretLen is the shortest secret a Key may hold: 256 bits, the
	// strength of the AES-256 key derived from it.
	MinSecretLen = 32
	// MaxIDLen bounds a key id, so that it fits the one-byte length of the
	// record header with room to spare and stays readable in logs.
	MaxIDLen = 64

	infoAEAD  = "intelgate/seal/v1/aead"
	infoIndex = "intelgate/seal/v1/index"
	redacted  = "[REDACTED]"
)

var (
	// ErrAuth: the record is truncated, of an unknown version, tampered
	// with, or sealed with other associated data. Never served.
	ErrAuth = errors.New("seal: record failed authentication")
	// ErrUnknownKey: the record names a key id the keyring does not hold —
	// a retired key, or a tampered id (the two cannot be told apart).
	ErrUnknownKey = errors.New("seal: record sealed under an unknown key")
)

// Key is one sealing secret and the id recorded in what it seals. Its
// formatting methods never print Secret, so a Key may be logged.
type Key struct {
	ID     string
	Secret []byte
}

// String names the key without its secret.
func (k Key) String() string { return fmt.Sprintf("seal.Key{ID: %q, Secret: %s}", k.ID, redacted) }

// GoString is String, so that %#v does not print the secret either.
func (k Key) GoString() string { return k.String() }

// Format makes every verb (%v, %+v, %#v, %s, %x, …) print String: a
// struct printed with %+v would otherwise show Secret byte by byte.
func (k Key) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, k.String()) }

// LogValue logs the id alone.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", k.ID), slog.String("secret", redacted))
}

// MarshalJSON redacts the secret: base64 of a secret is still the secret.
func (k Key) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, `{"id":%q,"secret":%q}`, k.ID, redacted), nil
}

// Keyring seals under its first key and opens under any of them. It keeps
// only keys derived from the secrets, never the secrets themselves. It is
// immutable and safe for concurrent use; a rotation builds a new one.
type Keyring struct {
	keys []derived // writer first
	byID map[string]*derived
}

type derived struct {
	id    string
	aead  cipher.AEAD
	index []byte // HMAC-SHA256 key for Index
}

// NewKeyring derives the sealing and index keys of keys; the first one
// writes. It refuses an empty list, a duplicate or malformed id, and a
// secret shorter than MinSecretLen.
func NewKeyring(keys []Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("seal: keyring needs at least one key")
	}
	r := &Keyring{keys: make([]derived, 0, len(keys)), byID: make(map[string]*derived, len(keys))}
	seen := make(map[string]bool, len(keys))
	for i, k := range keys {
		if err := validID(k.ID); err != nil {
			return nil, fmt.Errorf("seal: key %d: %w", i, err)
		}
		if seen[k.ID] {
			return nil, fmt.Errorf("seal: key id %q appears twice", k.ID)
		}
		seen[k.ID] = true
		if len(k.Secret) < MinSecretLen {
			return nil, fmt.Errorf("seal: key %q: secret must be at least %d bytes, has %d", k.ID, MinSecretLen, len(k.Secret))
		}
		d, err := derive(k)
		if err != nil {
			return nil, fmt.Errorf("seal: key %q: %w", k.ID, err)
		}
		r.keys = append(r.keys, d)
	}
	for i := range r.keys {
		r.byID[r.keys[i].id] = &r.keys[i]
	}
	return r, nil
}

func validID(id string) error {
	switch {
	case id == "":
		return errors.New("key id is empty")
	case len(id) > MaxIDLen:
		return fmt.Errorf("key id %q is longer than %d bytes", id, MaxIDLen)
	case !utf8.ValidString(id):
		return fmt.Errorf("key id %q is not valid UTF-8", id)
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return fmt.Errorf("key id %q holds a control character", id)
		}
	}
	return nil
}

// derive gives each purpose its own key (HKDF-SHA256 with distinct info),
// so an index value reveals nothing about the AEAD key and vice versa.
func derive(k Key) (derived, error) {
	aeadKey, err := hkdf.Key(sha256.New, k.Secret, nil, infoAEAD, 32)
	if err != nil {
		return derived{}, fmt.Errorf("derive sealing key: %w", err)
	}
	indexKey, err := hkdf.Key(sha256.New, k.Secret, nil, infoIndex, 32)
	if err != nil {
		return derived{}, fmt.Errorf("derive index key: %w", err)
	}
	block, err := aes.NewCipher(aeadKey)
	if err != nil {
		return derived{}, fmt.Errorf("aes: %w", err)
	}
	// A random 96-bit nonce per record: records are written by many
	// replicas without coordination, so a counter nonce is not an option;
	// 2^32 records per key keep the collision risk under NIST's bound, and
	// rotation resets it.
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return derived{}, fmt.Errorf("gcm: %w", err)
	}
	return derived{id: k.ID, aead: aead, index: indexKey}, nil
}

// Writer is the id of the key Seal uses.
func (r *Keyring) Writer() string { return r.keys[0].id }

// IDs lists the key ids, writer first.
func (r *Keyring) IDs() []string {
	ids := make([]string, len(r.keys))
	for i, k := range r.keys {
		ids[i] = k.id
	}
	return ids
}

// header is the record header of key id.
func header(id string) []byte {
	h := make([]byte, 0, 2+len(id))
	h = append(h, version, byte(len(id)))
	return append(h, id...)
}

// fullAD is the GCM additional data: header, then the caller's ad.
func fullAD(h, ad []byte) []byte {
	out := make([]byte, 0, len(h)+len(ad))
	return append(append(out, h...), ad...)
}

// Seal seals plaintext under the writer key, binding it to ad: Open must
// be given the same ad (the cache passes the record's index id, so a
// record copied to another id fails).
func (r *Keyring) Seal(ad, plaintext []byte) ([]byte, error) {
	k := &r.keys[0]
	h := header(k.id)
	out := make([]byte, len(h), len(h)+len(plaintext)+k.aead.Overhead())
	copy(out, h)
	return k.aead.Seal(out, nil, plaintext, fullAD(h, ad)), nil
}

// parseHeader splits a record into its key id and GCM output, without
// authenticating anything.
func parseHeader(record []byte) (id string, body []byte, err error) {
	if len(record) < 2 {
		return "", nil, fmt.Errorf("record of %d bytes is truncated: %w", len(record), ErrAuth)
	}
	if record[0] != version {
		return "", nil, fmt.Errorf("record version %d: %w", record[0], ErrAuth)
	}
	n := int(record[1])
	if n == 0 || n > MaxIDLen || len(record) < 2+n {
		return "", nil, fmt.Errorf("record header is malformed: %w", ErrAuth)
	}
	return string(record[2 : 2+n]), record[2+n:], nil
}

// RecordKeyID reads the key id in record's header. It is not
// authenticated: use it to decide what to re-seal, never to trust a
// record.
func RecordKeyID(record []byte) (string, bool) {
	id, _, err := parseHeader(record)
	return id, err == nil
}

// Open authenticates and decrypts record, sealed with ad, and says which
// key sealed it (the caller re-seals under the writer when it is not the
// writer). Errors wrap ErrAuth or ErrUnknownKey; no input makes it panic.
func (r *Keyring) Open(ad, record []byte) (plaintext []byte, keyID string, err error) {
	id, body, err := parseHeader(record)
	if err != nil {
		return nil, "", err
	}
	k, ok := r.byID[id]
	if !ok {
		return nil, "", fmt.Errorf("record key id %q: %w", id, ErrUnknownKey)
	}
	if len(body) < k.aead.Overhead() {
		return nil, "", fmt.Errorf("record of %d bytes is truncated: %w", len(record), ErrAuth)
	}
	pt, err := k.aead.Open(nil, nil, body, fullAD(record[:2+len(id)], ad))
	if err != nil {
		return nil, "", fmt.Errorf("record under key %q: %w", id, ErrAuth)
	}
	return pt, id, nil
}

// Index is the keyed HMAC-SHA256 of msg under each key, writer first, so a
// lookup during a rotation can try the id a record got under every key
// still held. Without the key an index value reveals nothing about msg,
// and it cannot be computed for a guessed indicator.
//
// Values are unpadded base64url (43 characters): a third shorter than hex
// in every SQLite row and Redis key, and safe in either (no '/', '+', ':'
// or '='). They are case-sensitive.
func (r *Keyring) Index(msg string) []string {
	out := make([]string, len(r.keys))
	for i := range r.keys {
		out[i] = r.keys[i].mac(msg)
	}
	return out
}

// IndexUnder is Index under one key; false when the keyring lacks keyID.
func (r *Keyring) IndexUnder(keyID, msg string) (string, bool) {
	k, ok := r.byID[keyID]
	if !ok {
		return "", false
	}
	return k.mac(msg), true
}

func (d *derived) mac(msg string) string {
	m := hmac.New(sha256.New, d.index)
	_, _ = m.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// String names the keys without any secret. The formatting methods have
// value receivers so that a dereferenced Keyring is redacted too.
func (r Keyring) String() string {
	if len(r.keys) == 0 {
		return "seal.Keyring{}"
	}
	return fmt.Sprintf("seal.Keyring{Writer: %q, IDs: %q}", r.Writer(), r.IDs())
}

// GoString is String.
func (r Keyring) GoString() string { return r.String() }

// Format makes every verb print String, so %+v cannot walk into the
// derived keys.
func (r Keyring) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, r.String()) }

// LogValue logs the key ids alone.
func (r Keyring) LogValue() slog.Value {
	if len(r.keys) == 0 {
		return slog.GroupValue()
	}
	return slog.GroupValue(slog.String("writer", r.Writer()), slog.Any("ids", r.IDs()))
}
