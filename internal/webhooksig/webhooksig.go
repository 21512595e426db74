// Package webhooksig signs and verifies webhooks. Its first scheme is
// Standard Webhooks (https://www.standardwebhooks.com): the headers
// webhook-id, webhook-timestamp and webhook-signature, the latter a
// space-separated list of "v1,<base64 HMAC-SHA256 of id.timestamp.payload>"
// under a whsec_ secret and "v1a,<base64 ed25519 signature>" under a whsk_
// signing key, verified with its whpk_ public key. It is the one signer of
// everything intelgate sends out — alert sinks, and later job callbacks —
// and the verifier of what it receives: Standard Webhooks, GitHub's and
// Stripe's schemes, all behind the one-method Scheme.
//
// The HMAC of v1 is the standard-webhooks library's. What it leaves to its
// callers is done here: it accepts an empty or short secret (an empty key
// makes a MAC anyone can compute), it checks the timestamp against the
// wall clock only, and it knows no v1a; this package refuses weak secrets,
// measures the tolerance on an injected clock and verifies ed25519 with
// crypto/ed25519.
//
// No error of this package holds a secret, says which key or which of
// several signatures failed, or echoes a header: a verifier must not
// become an oracle, and a header is the sender's text, not ours to log.
package webhooksig

import (
	"crypto/ed25519"
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/intelgate/intelgate/internal/clock"
)

// The headers, as the specification names them.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// MinSecretBytes is the shortest secret accepted: the specification asks
// for 24 to 64 random bytes.
const MinSecretBytes = 24

// DefaultTolerance is how far a timestamp may be from now, either way:
// the specification's five minutes.
const DefaultTolerance = 5 * time.Minute

// maxSignatures bounds the signatures one header may carry. A sender
// rotating keys sends two or three; a header of thousands would buy an
// attacker thousands of ed25519 verifications per request.
const maxSignatures = 8

// ErrWeakSecret: the secret is empty, not base64, or shorter than
// MinSecretBytes.
var ErrWeakSecret = errors.New("webhook secret must be whsec_ followed by base64 of at least 24 random bytes")

// Errors of every scheme's Verify, wrapped with the scheme's header names.
// None says which key or which part of a signature was wrong.
var (
	ErrMissingHeaders = errors.New("missing webhook headers")
	ErrTimestamp      = errors.New("webhook timestamp is not a Unix time within the tolerance")
	ErrSignature      = errors.New("no webhook signature matches")
)

// Key is a whsec_ signing secret.
type Key struct {
	wh *standardwebhooks.Webhook
}

// ParseKey reads a "whsec_<base64>" secret (the prefix is optional, as
// the specification allows), refusing a weak one. The error never holds
// the secret.
func ParseKey(secret string) (Key, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || len(raw) < MinSecretBytes {
		return Key{}, ErrWeakSecret
	}
	wh, err := standardwebhooks.NewWebhookRaw(raw)
	if err != nil {
		return Key{}, ErrWeakSecret
	}
	return Key{wh: wh}, nil
}

// Sign returns the headers that authenticate payload as message id sent
// at ts.
func (k Key) Sign(id string, ts time.Time, payload []byte) (http.Header, error) {
	if err := checkSignID(id); err != nil {
		return nil, err
	}
	if k.wh == nil {
		return nil, errors.New("signing webhook: the zero Key has no secret")
	}
	sig, err := k.wh.Sign(id, ts, payload)
	if err != nil {
		return nil, fmt.Errorf("signing webhook: %w", err)
	}
	return standardHeaders(id, ts, sig), nil
}

// checkSignID refuses an id that would make the signed string
// id.timestamp.payload ambiguous, or the header unsendable.
func checkSignID(id string) error {
	if id == "" || strings.ContainsAny(id, ". \r\n") {
		return fmt.Errorf("webhook id %q: must be non-empty, without dots, spaces or line breaks", id)
	}
	return nil
}

func standardHeaders(id string, ts time.Time, sig string) http.Header {
	h := http.Header{}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return h
}

// Verifier checks Standard Webhooks against one or more keys, HMAC (v1)
// and ed25519 (v1a) mixed as a rotation needs, with the timestamp measured
// on Clock. NewStandard builds one from configured secret strings.
type Verifier struct {
	Keys       []Key         // whsec_ secrets: v1 signatures
	PublicKeys []PublicKey   // whpk_ public keys: v1a signatures
	Tolerance  time.Duration // 0: DefaultTolerance
	Clock      clock.Clock   // nil: the system clock
}

// Verify reports whether headers authenticate payload under one of the
// keys, with a timestamp within the tolerance either way (stale and
// future). It returns the message id for deduplication, checked by
// CheckID. The signature header may hold up to eight space-separated
// signatures; one that matches any key is enough. A v1 signature is
// only tried against Keys and a v1a only against PublicKeys.
func (v Verifier) Verify(payload []byte, headers http.Header) (id string, err error) {
	id, ts, sig := headers.Get(HeaderID), headers.Get(HeaderTimestamp), headers.Get(HeaderSignature)
	if id == "" || ts == "" || sig == "" {
		return "", fmt.Errorf("%w: want %s, %s and %s", ErrMissingHeaders, HeaderID, HeaderTimestamp, HeaderSignature)
	}
	at, ok := parseUnix(ts)
	if !ok || !within(at, v.Clock, v.Tolerance) {
		return "", ErrTimestamp
	}
	sigs := strings.Fields(sig)
	if len(sigs) > maxSignatures || !v.matches(id, ts, at, payload, sigs) {
		return "", ErrSignature
	}
	if err := CheckID(id); err != nil {
		return "", err
	}
	return id, nil
}

// matches reports whether one of sigs verifies under one of the keys.
// HMACs are compared in constant time; each key's HMAC is computed once.
func (v Verifier) matches(id, ts string, at time.Time, payload []byte, sigs []string) bool {
	var macs [][]byte // lazily: only when a v1 signature is present
	var signed []byte // id.ts.payload, for v1a
	for _, s := range sigs {
		version, value, ok := strings.Cut(s, ",")
		if !ok {
			continue
		}
		switch version {
		case "v1":
			if macs == nil {
				macs = v.macs(id, at, payload)
			}
			for _, m := range macs {
				if hmac.Equal([]byte(value), m) {
					return true
				}
			}
		case "v1a":
			raw, err := base64.StdEncoding.DecodeString(value)
			if err != nil || len(raw) != ed25519.SignatureSize || len(v.PublicKeys) == 0 {
				continue
			}
			if signed == nil {
				signed = signedContent(id, ts, payload)
			}
			for _, p := range v.PublicKeys {
				if p.verify(signed, raw) {
					return true
				}
			}
		}
	}
	return false
}

// macs returns each key's base64 v1 signature of the message.
func (v Verifier) macs(id string, at time.Time, payload []byte) [][]byte {
	out := make([][]byte, 0, len(v.Keys))
	for _, k := range v.Keys {
		if k.wh == nil {
			continue
		}
		s, err := k.wh.Sign(id, at, payload)
		if err != nil {
			continue
		}
		out = append(out, []byte(strings.TrimPrefix(s, "v1,")))
	}
	return out
}

// signedContent is what Standard Webhooks signs: id.timestamp.payload.
func signedContent(id, ts string, payload []byte) []byte {
	b := make([]byte, 0, len(id)+len(ts)+len(payload)+2)
	b = append(append(append(append(b, id...), '.'), ts...), '.')
	return append(b, payload...)
}

// parseUnix reads a Unix time in seconds written canonically: 1 to 18
// decimal digits, no sign, no leading zero. Canonical, so the digits the
// sender signed are the digits Sign would write; bounded, so time.Unix
// cannot overflow.
func parseUnix(s string) (time.Time, bool) {
	if len(s) == 0 || len(s) > 18 || (s[0] == '0' && len(s) > 1) {
		return time.Time{}, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return time.Time{}, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

// within reports whether at is no further than tol (≤ 0: DefaultTolerance)
// from clk's now, either way.
func within(at time.Time, clk clock.Clock, tol time.Duration) bool {
	if tol <= 0 {
		tol = DefaultTolerance
	}
	now := clock.Or(clk).Now()
	return !at.Before(now.Add(-tol)) && !at.After(now.Add(tol))
}
