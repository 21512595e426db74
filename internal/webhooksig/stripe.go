package webhooksig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/intelgate/intelgate/internal/clock"
)

// HeaderStripeSignature is Stripe's webhook header.
const HeaderStripeSignature = "Stripe-Signature"

// Stripe verifies Stripe's webhooks: Stripe-Signature is
// "t=<unix>,v1=<hex HMAC-SHA256 of "t.body">", with one v1 per active
// secret during a rotation (other entries, such as the test-mode v0, are
// ignored). The HMAC key is the whsec_ secret string itself.
//
// The id is the event's: the body's top-level "id". The body is parsed
// only after its signature verified, so no unauthenticated input reaches
// the JSON decoder.
type Stripe struct {
	secrets   [][]byte
	tolerance time.Duration
	clock     clock.Clock
}

// NewStripe returns a Stripe verifier for secrets (several during a
// rotation), each at least MinSecretBytes long after an optional whsec_
// prefix, with a timestamp tolerance (0: DefaultTolerance) on clk (nil:
// the system clock). Errors name a secret by its position only.
func NewStripe(secrets []string, tol time.Duration, clk clock.Clock) (Stripe, error) {
	if err := checkCommon(secrets, tol); err != nil {
		return Stripe{}, fmt.Errorf("%s scheme: %w", SchemeStripe, err)
	}
	keys, err := hmacSecrets(SchemeStripe, secrets, "whsec_")
	if err != nil {
		return Stripe{}, err
	}
	return Stripe{secrets: keys, tolerance: tol, clock: clk}, nil
}

// Verify checks the timestamp (within the tolerance, stale or future),
// then the v1 signatures under every secret in constant time, then reads
// the event id from the verified body.
func (s Stripe) Verify(body []byte, h http.Header) (id string, err error) {
	v := h.Get(HeaderStripeSignature)
	if v == "" {
		return "", fmt.Errorf("%w: want %s", ErrMissingHeaders, HeaderStripeSignature)
	}
	ts, sigs, err := parseStripeHeader(v)
	if err != nil {
		return "", err
	}
	at, ok := parseUnix(ts)
	if !ok || !within(at, s.clock, s.tolerance) {
		return "", ErrTimestamp
	}
	if !s.matches(ts, body, sigs) {
		return "", ErrSignature
	}
	return stripeEventID(body)
}

func (s Stripe) matches(ts string, body []byte, sigs [][]byte) bool {
	if len(sigs) == 0 {
		return false
	}
	for _, k := range s.secrets {
		want := stripeMAC(k, ts, body)
		for _, got := range sigs {
			if hmac.Equal(got, want) {
				return true
			}
		}
	}
	return false
}

func stripeMAC(key []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// parseStripeHeader splits "t=…,v1=…[,v1=…][,other=…]" into the one t
// (its text, as signed) and the decoded v1 signatures. A missing or
// repeated t is ErrTimestamp, more than maxSignatures v1 entries
// ErrSignature; a v1 that is not 32 bytes of hex is skipped (it cannot
// match).
func parseStripeHeader(v string) (ts string, sigs [][]byte, err error) {
	seenT, n := false, 0
	for item := range strings.SplitSeq(v, ",") {
		k, val, found := strings.Cut(strings.TrimSpace(item), "=")
		if !found {
			continue
		}
		switch k {
		case "t":
			if seenT {
				return "", nil, ErrTimestamp
			}
			ts, seenT = val, true
		case "v1":
			if n++; n > maxSignatures {
				return "", nil, ErrSignature
			}
			if b, err := hex.DecodeString(val); err == nil && len(b) == sha256.Size {
				sigs = append(sigs, b)
			}
		}
	}
	if !seenT {
		return "", nil, ErrTimestamp
	}
	return ts, sigs, nil
}

// stripeEventID reads the verified body's top-level "id" — exactly that
// key (encoding/json would also match "ID" into a struct field) — and
// checks it.
func stripeEventID(body []byte) (string, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		return "", fmt.Errorf("stripe event is not a JSON object: %w", ErrID)
	}
	var id string
	if raw, ok := top["id"]; !ok || json.Unmarshal(raw, &id) != nil {
		return "", fmt.Errorf("stripe event has no top-level string \"id\": %w", ErrID)
	}
	if err := CheckID(id); err != nil {
		return "", err
	}
	return id, nil
}

// SignStripe returns the header Stripe would send with body at ts under
// secret: the simulator's and tests' way to make one.
func SignStripe(secret string, ts time.Time, body []byte) (http.Header, error) {
	keys, err := hmacSecrets(SchemeStripe, []string{secret}, "whsec_")
	if err != nil {
		return nil, err
	}
	t := strconv.FormatInt(ts.Unix(), 10)
	h := http.Header{}
	h.Set(HeaderStripeSignature, "t="+t+",v1="+hex.EncodeToString(stripeMAC(keys[0], t, body)))
	return h, nil
}
