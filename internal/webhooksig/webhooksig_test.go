package webhooksig_test

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/webhooksig"
)

// The specification's published example: this secret, id, timestamp and
// payload sign to this signature.
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = 1614265330
	specPayload   = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func newKey(t *testing.T) (webhooksig.Key, string) {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(b)
	k, err := webhooksig.ParseKey(secret)
	require.NoError(t, err)
	return k, secret
}

func TestSignMatchesTheSpecificationExample(t *testing.T) {
	t.Parallel()
	k, err := webhooksig.ParseKey(specSecret)
	require.NoError(t, err)
	h, err := k.Sign(specID, time.Unix(specTimestamp, 0), []byte(specPayload))
	require.NoError(t, err)
	require.Equal(t, specSignature, h.Get(webhooksig.HeaderSignature))
	require.Equal(t, specID, h.Get(webhooksig.HeaderID))
	require.Equal(t, "1614265330", h.Get(webhooksig.HeaderTimestamp))

	clk := clocktest.New(time.Unix(specTimestamp, 0).Add(time.Minute))
	id, err := webhooksig.Verifier{Keys: []webhooksig.Key{k}, Clock: clk}.Verify([]byte(specPayload), h)
	require.NoError(t, err)
	require.Equal(t, specID, id)
}

func TestVerify(t *testing.T) {
	t.Parallel()
	k, _ := newKey(t)
	other, _ := newKey(t)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	clk := clocktest.New(now)
	payload := []byte(`{"alert":"breaker_open"}`)
	signed := func(ts time.Time) http.Header {
		h, err := k.Sign("msg_1", ts, payload)
		require.NoError(t, err)
		return h
	}
	for _, tc := range []struct {
		name    string
		keys    []webhooksig.Key
		payload []byte
		headers http.Header
		want    error
	}{
		{"valid", []webhooksig.Key{k}, payload, signed(now), nil},
		{"valid under the second key (a rotation)", []webhooksig.Key{other, k}, payload, signed(now), nil},
		{"within the tolerance, either way", []webhooksig.Key{k}, payload, signed(now.Add(-4 * time.Minute)), nil},
		{"another key", []webhooksig.Key{other}, payload, signed(now), webhooksig.ErrSignature},
		{"payload changed", []webhooksig.Key{k}, []byte(`{"alert":"none"}`), signed(now), webhooksig.ErrSignature},
		{"too old", []webhooksig.Key{k}, payload, signed(now.Add(-6 * time.Minute)), webhooksig.ErrTimestamp},
		{"too new", []webhooksig.Key{k}, payload, signed(now.Add(6 * time.Minute)), webhooksig.ErrTimestamp},
		{"missing signature", []webhooksig.Key{k}, payload, func() http.Header { h := signed(now); h.Del(webhooksig.HeaderSignature); return h }(), webhooksig.ErrMissingHeaders},
		{"timestamp not a number", []webhooksig.Key{k}, payload, func() http.Header { h := signed(now); h.Set(webhooksig.HeaderTimestamp, "soon"); return h }(), webhooksig.ErrTimestamp},
		{"id changed", []webhooksig.Key{k}, payload, func() http.Header { h := signed(now); h.Set(webhooksig.HeaderID, "msg_2"); return h }(), webhooksig.ErrSignature},
		{"one of several signatures matches", []webhooksig.Key{k}, payload, func() http.Header {
			h := signed(now)
			h.Set(webhooksig.HeaderSignature, "v1,bm90IGl0 v1a,c29tZXRoaW5n "+h.Get(webhooksig.HeaderSignature))
			return h
		}(), nil},
		{"no keys", nil, payload, signed(now), webhooksig.ErrSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := webhooksig.Verifier{Keys: tc.keys, Clock: clk}.Verify(tc.payload, tc.headers)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want)
		})
	}
}

// A secret anyone could guess is refused, and the error never holds it.
func TestParseKeyRefusesWeakSecrets(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "whsec_", "whsec_not base64!", "whsec_" + base64.StdEncoding.EncodeToString([]byte("too short, 23 bytes....")),
		"whsec_" + strings.Repeat("A", 31)} {
		_, err := webhooksig.ParseKey(s)
		require.ErrorIs(t, err, webhooksig.ErrWeakSecret, s)
		if s != "" && s != "whsec_" {
			require.NotContains(t, err.Error(), strings.TrimPrefix(s, "whsec_"))
		}
	}
	_, err := webhooksig.ParseKey(strings.TrimPrefix(specSecret, "whsec_"))
	require.NoError(t, err, "the prefix is optional")
}

func TestSignRefusesIDsThatBreakTheSignedString(t *testing.T) {
	t.Parallel()
	k, _ := newKey(t)
	for _, id := range []string{"", "a.b", "a b", "a\nb"} {
		_, err := k.Sign(id, time.Now(), nil)
		require.Error(t, err, "%q", id)
	}
}
