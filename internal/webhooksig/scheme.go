package webhooksig

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/intelgate/intelgate/internal/clock"
)

// Scheme verifies one provider's inbound webhooks. Verify authenticates
// body under h and returns the message id the receiver dedupes by; it has
// passed CheckID, so it is safe as a database key. Every error wraps
// ErrMissingHeaders, ErrTimestamp, ErrSignature or ErrID.
type Scheme interface {
	Verify(body []byte, h http.Header) (id string, err error)
}

var (
	_ Scheme = Verifier{}
	_ Scheme = GitHub{}
	_ Scheme = Stripe{}
)

// The names NewScheme knows.
const (
	SchemeStandard = "standard"
	SchemeGitHub   = "github"
	SchemeStripe   = "stripe"
)

// SchemeNames returns the names NewScheme knows, in a fresh slice.
func SchemeNames() []string { return []string{SchemeStandard, SchemeGitHub, SchemeStripe} }

// NewScheme returns the named scheme's verifier for secrets (several
// during a rotation; any one verifies), with a timestamp tolerance (0:
// DefaultTolerance) on clk (nil: the system clock). github has no
// timestamp, so it ignores both.
func NewScheme(name string, secrets []string, tol time.Duration, clk clock.Clock) (Scheme, error) {
	var s Scheme
	var err error
	switch name {
	case SchemeStandard:
		s, err = NewStandard(secrets, tol, clk)
	case SchemeGitHub:
		s, err = NewGitHub(secrets)
	case SchemeStripe:
		s, err = NewStripe(secrets, tol, clk)
	default:
		return nil, fmt.Errorf("unknown webhook scheme %q: want one of %s", name, strings.Join(SchemeNames(), ", "))
	}
	if err != nil {
		return nil, err // a nil Scheme, not a zero verifier in an interface
	}
	return s, nil
}

// NewStandard returns a Standard Webhooks verifier over secrets, each
// either a whsec_ HMAC secret (v1; the prefix is optional) or a whpk_
// ed25519 public key (v1a), mixed as a rotation between them needs. A
// whsk_ signing key is refused: a receiver needs only the public half.
// Errors name a secret by its position, never by its content.
func NewStandard(secrets []string, tol time.Duration, clk clock.Clock) (Verifier, error) {
	if err := checkCommon(secrets, tol); err != nil {
		return Verifier{}, fmt.Errorf("%s scheme: %w", SchemeStandard, err)
	}
	v := Verifier{Tolerance: tol, Clock: clk}
	for i, s := range secrets {
		switch {
		case strings.HasPrefix(s, PublicKeyPrefix):
			p, err := ParsePublicKey(s)
			if err != nil {
				return Verifier{}, fmt.Errorf("%s secret %d: %w", SchemeStandard, i+1, err)
			}
			v.PublicKeys = append(v.PublicKeys, p)
		case strings.HasPrefix(s, SigningKeyPrefix):
			return Verifier{}, fmt.Errorf("%s secret %d is a whsk_ signing key: configure its whpk_ public key instead", SchemeStandard, i+1)
		default:
			k, err := ParseKey(s)
			if err != nil {
				return Verifier{}, fmt.Errorf("%s secret %d: %w", SchemeStandard, i+1, err)
			}
			v.Keys = append(v.Keys, k)
		}
	}
	return v, nil
}

// checkCommon is what every constructor asks of its arguments.
func checkCommon(secrets []string, tol time.Duration) error {
	if len(secrets) == 0 {
		return errors.New("at least one secret is required")
	}
	if tol < 0 {
		return fmt.Errorf("tolerance must not be negative, got %s", tol)
	}
	return nil
}

// ErrShortSecret: a github or stripe secret is shorter than
// MinSecretBytes (for stripe, not counting its whsec_ prefix).
var ErrShortSecret = fmt.Errorf("webhook secret must be at least %d bytes", MinSecretBytes)

// hmacSecrets turns github's and stripe's secrets into HMAC keys: the
// secret string's bytes as they are, which is how both providers use them
// (a Stripe whsec_ string is not base64-decoded). prefix is not counted
// towards the minimum length.
func hmacSecrets(scheme string, secrets []string, prefix string) ([][]byte, error) {
	out := make([][]byte, 0, len(secrets))
	for i, s := range secrets {
		if len(strings.TrimPrefix(s, prefix)) < MinSecretBytes {
			return nil, fmt.Errorf("%s secret %d: %w", scheme, i+1, ErrShortSecret)
		}
		out = append(out, []byte(s))
	}
	return out, nil
}

// MaxIDBytes bounds a message id: it becomes a deduplication key.
const MaxIDBytes = 256

// ErrID: a message id is empty, longer than MaxIDBytes, or holds a byte
// outside visible ASCII.
var ErrID = fmt.Errorf("webhook id must be 1 to %d visible ASCII characters", MaxIDBytes)

// CheckID refuses an id unfit to be a deduplication key: empty, longer
// than MaxIDBytes, or with anything but visible ASCII (0x21–0x7e) — no
// control characters, spaces or non-ASCII, so an id cannot forge a log
// line, hide behind Unicode look-alikes or vary by normalisation. Every
// provider's ids (msg_…, GitHub's GUIDs, Stripe's evt_…) fit. The error
// does not echo the id.
func CheckID(id string) error {
	if len(id) == 0 || len(id) > MaxIDBytes {
		return ErrID
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return ErrID
		}
	}
	return nil
}
