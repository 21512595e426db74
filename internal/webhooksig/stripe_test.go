package webhooksig_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/webhooksig"
)

const (
	stripeSecret = "whsec_5c0d5ab1e0f7a8b3c4d5e6f708192a3b"
	stripeOld    = "whsec_0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld0l"
)

// stripeV1 is Stripe's v1 signature, computed here independently of the
// package: hex HMAC-SHA256 of "t.body" under the whole secret string.
func stripeV1(secret string, t int64, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "%d.%s", t, body)
	return hex.EncodeToString(m.Sum(nil))
}

func TestStripe(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	ts := now.Unix()
	const body = `{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","type":"charge.succeeded"}`
	sig := stripeV1(stripeSecret, ts, body)
	header := func(v string) http.Header {
		h := http.Header{}
		h.Set(webhooksig.HeaderStripeSignature, v)
		return h
	}
	valid := header(fmt.Sprintf("t=%d,v1=%s", ts, sig))

	signed, err := webhooksig.SignStripe(stripeSecret, now, []byte(body))
	require.NoError(t, err)
	require.Equal(t, valid, signed, "SignStripe writes what Stripe sends")

	// signedBody is a Stripe header for another body under the secret.
	signedBody := func(b string) http.Header {
		return header(fmt.Sprintf("t=%d,v1=%s", ts, stripeV1(stripeSecret, ts, b)))
	}
	for _, tc := range []struct {
		name    string
		secrets []string
		now     time.Time
		body    string
		headers http.Header
		want    error
		wantID  string
	}{
		{"valid", []string{stripeSecret}, now, body, valid, nil, "evt_1NG8Du2eZvKYlo2CUI79vXWy"},
		{"rotation: two v1, the verifier has the new secret", []string{stripeSecret}, now, body,
			header(fmt.Sprintf("t=%d,v1=%s,v1=%s", ts, stripeV1(stripeOld, ts, body), sig)), nil, "evt_1NG8Du2eZvKYlo2CUI79vXWy"},
		{"rotation: the verifier has both secrets", []string{stripeOld, stripeSecret}, now, body, valid, nil, "evt_1NG8Du2eZvKYlo2CUI79vXWy"},
		{"v0 entries are ignored", []string{stripeSecret}, now, body,
			header(fmt.Sprintf("t=%d,v0=%s,v1=%s", ts, strings.Repeat("0", 64), sig)), nil, "evt_1NG8Du2eZvKYlo2CUI79vXWy"},
		{"tampered body", []string{stripeSecret}, now, strings.Replace(body, "succeeded", "refunded", 1), valid, webhooksig.ErrSignature, ""},
		{"tampered, not even JSON: signature first", []string{stripeSecret}, now, "not json", valid, webhooksig.ErrSignature, ""},
		{"wrong secret", []string{stripeOld}, now, body, valid, webhooksig.ErrSignature, ""},
		{"tampered timestamp", []string{stripeSecret}, now, body, header(fmt.Sprintf("t=%d,v1=%s", ts+1, sig)), webhooksig.ErrSignature, ""},
		{"stale", []string{stripeSecret}, now.Add(5*time.Minute + time.Second), body, valid, webhooksig.ErrTimestamp, ""},
		{"future", []string{stripeSecret}, now.Add(-5*time.Minute - time.Second), body, valid, webhooksig.ErrTimestamp, ""},
		{"stale by exactly the tolerance", []string{stripeSecret}, now.Add(5 * time.Minute), body, valid, nil, "evt_1NG8Du2eZvKYlo2CUI79vXWy"},
		{"no header", []string{stripeSecret}, now, body, http.Header{}, webhooksig.ErrMissingHeaders, ""},
		{"no t", []string{stripeSecret}, now, body, header("v1=" + sig), webhooksig.ErrTimestamp, ""},
		{"two t", []string{stripeSecret}, now, body, header(fmt.Sprintf("t=%d,t=%d,v1=%s", ts, ts, sig)), webhooksig.ErrTimestamp, ""},
		{"t not a number", []string{stripeSecret}, now, body, header("t=soon,v1=" + sig), webhooksig.ErrTimestamp, ""},
		{"no v1", []string{stripeSecret}, now, body, header(fmt.Sprintf("t=%d,v0=%s", ts, sig)), webhooksig.ErrSignature, ""},
		{"nine v1 are too many", []string{stripeSecret}, now, body,
			header(fmt.Sprintf("t=%d%s,v1=%s", ts, strings.Repeat(",v1="+strings.Repeat("0", 64), 8), sig)), webhooksig.ErrSignature, ""},
		{"no id", []string{stripeSecret}, now, `{"object":"event"}`, signedBody(`{"object":"event"}`), webhooksig.ErrID, ""},
		{"id under another case only", []string{stripeSecret}, now, `{"ID":"evt_1"}`, signedBody(`{"ID":"evt_1"}`), webhooksig.ErrID, ""},
		{"id not a string", []string{stripeSecret}, now, `{"id":42}`, signedBody(`{"id":42}`), webhooksig.ErrID, ""},
		{"id with a control character", []string{stripeSecret}, now, `{"id":"evt_\u0000x"}`, signedBody(`{"id":"evt_\u0000x"}`), webhooksig.ErrID, ""},
		{"id too long", []string{stripeSecret}, now, `{"id":"` + strings.Repeat("e", 257) + `"}`,
			signedBody(`{"id":"` + strings.Repeat("e", 257) + `"}`), webhooksig.ErrID, ""},
		{"body not an object", []string{stripeSecret}, now, `["evt_1"]`, signedBody(`["evt_1"]`), webhooksig.ErrID, ""},
		{"body null", []string{stripeSecret}, now, `null`, signedBody(`null`), webhooksig.ErrID, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := webhooksig.NewStripe(tc.secrets, 0, clocktest.New(tc.now))
			require.NoError(t, err)
			id, err := s.Verify([]byte(tc.body), tc.headers)
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
				require.Empty(t, id)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantID, id)
		})
	}
}
