// Package webhooksig signs and verifies webhooks the Standard Webhooks way
// (https://www.standardwebhooks.com): the headers webhook-id,
// webhook-timestamp and webhook-signature, the latter "v1,<base64
// HMAC-SHA256 of id.timestamp.payload>" under a whsec_ secret. It is the
// one signer of everything intelgate sends out — alert sinks, and later
// job callbacks — and the verifier of what it receives.
//
// The HMAC is the standard-webhooks library's. What it leaves to its
// callers is done here: it accepts an empty or short secret (an empty key
// makes a MAC anyone can compute), and it checks the timestamp against
// the wall clock only; this package refuses weak secrets and measures the
// tolerance on an injected clock.
package webhooksig

import (
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

// ErrWeakSecret: the secret is empty, not base64, or shorter than
// MinSecretBytes.
var ErrWeakSecret = errors.New("webhook secret must be whsec_ followed by base64 of at least 24 random bytes")

// Errors of Verify. None says which part of a signature was wrong.
var (
	ErrMissingHeaders = errors.New("webhook-id, webhook-timestamp and webhook-signature are required")
	ErrTimestamp      = errors.New("webhook-timestamp is not a Unix time within the tolerance")
	ErrSignature      = errors.New("no webhook-signature matches")
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
	if id == "" || strings.ContainsAny(id, ". \r\n") {
		return nil, fmt.Errorf("webhook id %q: must be non-empty, without dots, spaces or line breaks", id)
	}
	sig, err := k.wh.Sign(id, ts, payload)
	if err != nil {
		return nil, fmt.Errorf("signing webhook: %w", err)
	}
	h := http.Header{}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return h, nil
}

// Verifier checks signed webhooks against one or more keys (a rotation
// keeps the old one for a while), with the timestamp measured on Clock.
type Verifier struct {
	Keys      []Key
	Tolerance time.Duration // 0: DefaultTolerance
	Clock     clock.Clock   // nil: the system clock
}

// Verify reports whether headers authenticate payload under one of the
// keys, with a timestamp within the tolerance. It returns the message id
// for deduplication.
func (v Verifier) Verify(payload []byte, headers http.Header) (id string, err error) {
	id, ts, sig := headers.Get(HeaderID), headers.Get(HeaderTimestamp), headers.Get(HeaderSignature)
	if id == "" || ts == "" || sig == "" {
		return "", ErrMissingHeaders
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "", ErrTimestamp
	}
	tol := v.Tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	now := clock.Or(v.Clock).Now()
	if at := time.Unix(sec, 0); at.Before(now.Add(-tol)) || at.After(now.Add(tol)) {
		return "", ErrTimestamp
	}
	for _, k := range v.Keys {
		// The timestamp is checked above, on our clock.
		if k.wh != nil && k.wh.VerifyIgnoringTimestamp(payload, headers) == nil {
			return id, nil
		}
	}
	return "", ErrSignature
}
