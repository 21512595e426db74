package webhooksig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
)

// GitHub's webhook headers.
const (
	HeaderGitHubSignature = "X-Hub-Signature-256"
	HeaderGitHubDelivery  = "X-GitHub-Delivery"
)

// GitHub verifies GitHub's webhooks: X-Hub-Signature-256 is "sha256=" and
// the hex HMAC-SHA256 of the body under the webhook's secret.
//
// The scheme has no timestamp, and the signature covers the body only —
// not the X-GitHub-Delivery id. A captured body replayed under a fresh
// delivery id would pass deduplication by that id, so the id Verify
// returns is the body's digest instead: a replay is a duplicate whatever
// delivery id it carries (GitHub's own redelivery sends the same body, so
// it is one too). What nothing bounds is time: once the digest has left
// retention.webhook_ids, the same body is new again.
type GitHub struct {
	secrets [][]byte
}

// NewGitHub returns a GitHub verifier for secrets (several during a
// rotation), each at least MinSecretBytes long. Errors name a secret by
// its position, never by its content.
func NewGitHub(secrets []string) (GitHub, error) {
	if err := checkCommon(secrets, 0); err != nil {
		return GitHub{}, fmt.Errorf("%s scheme: %w", SchemeGitHub, err)
	}
	keys, err := hmacSecrets(SchemeGitHub, secrets, "")
	if err != nil {
		return GitHub{}, err
	}
	return GitHub{secrets: keys}, nil
}

// Verify checks the signature under every secret, in constant time, and
// returns the event's id: "sha256:" and the hex SHA-256 of the body. The
// delivery header must still be present and well formed.
func (g GitHub) Verify(body []byte, h http.Header) (id string, err error) {
	sig, id := h.Get(HeaderGitHubSignature), h.Get(HeaderGitHubDelivery)
	if sig == "" || id == "" {
		return "", fmt.Errorf("%w: want %s and %s", ErrMissingHeaders, HeaderGitHubSignature, HeaderGitHubDelivery)
	}
	hexSig, ok := strings.CutPrefix(sig, "sha256=")
	got, err := hex.DecodeString(hexSig)
	if !ok || err != nil || len(got) != sha256.Size {
		return "", ErrSignature
	}
	matched := false
	for _, k := range g.secrets {
		m := hmac.New(sha256.New, k)
		m.Write(body)
		if hmac.Equal(got, m.Sum(nil)) {
			matched = true
			break
		}
	}
	if !matched {
		return "", ErrSignature
	}
	if err := CheckID(id); err != nil {
		return "", err
	}
	digest := sha256.Sum256(body)
	return "sha256:" + hex.EncodeToString(digest[:]), nil
}

// SignGitHub returns the headers GitHub would send with body as delivery
// under secret: the simulator's and tests' way to make one.
func SignGitHub(secret, delivery string, body []byte) (http.Header, error) {
	keys, err := hmacSecrets(SchemeGitHub, []string{secret}, "")
	if err != nil {
		return nil, err
	}
	if err := CheckID(delivery); err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, keys[0])
	m.Write(body)
	h := http.Header{}
	h.Set(HeaderGitHubSignature, "sha256="+hex.EncodeToString(m.Sum(nil)))
	h.Set(HeaderGitHubDelivery, delivery)
	return h, nil
}
