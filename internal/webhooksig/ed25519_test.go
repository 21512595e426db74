package webhooksig_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
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

type edPair struct {
	sk         webhooksig.SigningKey
	pk         webhooksig.PublicKey
	whsk, whpk string
	priv       ed25519.PrivateKey
	pub        ed25519.PublicKey
}

// newEd25519 generates a key pair and its whsk_/whpk_ strings.
func newEd25519(t testing.TB) edPair {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	p := edPair{
		whsk: webhooksig.SigningKeyPrefix + base64.StdEncoding.EncodeToString(priv),
		whpk: webhooksig.PublicKeyPrefix + base64.StdEncoding.EncodeToString(pub),
		priv: priv, pub: pub,
	}
	p.sk, err = webhooksig.ParseSigningKey(p.whsk)
	require.NoError(t, err)
	p.pk, err = webhooksig.ParsePublicKey(p.whpk)
	require.NoError(t, err)
	require.Equal(t, p.whpk, p.sk.Public().String())
	require.Equal(t, p.whpk, p.pk.String())
	return p
}

// A v1a signature is ed25519 over id.timestamp.payload, as the
// specification says: checked with crypto/ed25519 directly, not with the
// package's own verifier.
func TestEd25519SignatureIsTheSpecifications(t *testing.T) {
	t.Parallel()
	p := newEd25519(t)
	at := time.Unix(1674087231, 0)
	h, err := p.sk.Sign("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", at, []byte(`{"a":1}`))
	require.NoError(t, err)
	require.Equal(t, "1674087231", h.Get(webhooksig.HeaderTimestamp))
	b64, ok := strings.CutPrefix(h.Get(webhooksig.HeaderSignature), "v1a,")
	require.True(t, ok, h.Get(webhooksig.HeaderSignature))
	sig, err := base64.StdEncoding.DecodeString(b64)
	require.NoError(t, err)
	require.True(t, ed25519.Verify(p.pub, []byte(`msg_2KWPBgLlAfxdpx2AI54pPJ85f4W.1674087231.{"a":1}`), sig))

	// A bare 32-byte seed is the same key.
	seeded, err := webhooksig.ParseSigningKey(webhooksig.SigningKeyPrefix + base64.StdEncoding.EncodeToString(p.priv.Seed()))
	require.NoError(t, err)
	require.Equal(t, p.whpk, seeded.Public().String())
}

func TestVerifyEd25519(t *testing.T) {
	t.Parallel()
	p, other := newEd25519(t), newEd25519(t)
	hk, _ := newKey(t)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	payload := []byte(`{"type":"indicator.updated"}`)
	edSigned := func(ts time.Time) http.Header {
		h, err := p.sk.Sign("msg_ed", ts, payload)
		require.NoError(t, err)
		return h
	}
	hmacSigned, err := hk.Sign("msg_ed", now, payload)
	require.NoError(t, err)
	both := edSigned(now)
	both.Set(webhooksig.HeaderSignature, hmacSigned.Get(webhooksig.HeaderSignature)+" "+both.Get(webhooksig.HeaderSignature))
	relabelled := edSigned(now)
	relabelled.Set(webhooksig.HeaderSignature, "v1,"+strings.TrimPrefix(relabelled.Get(webhooksig.HeaderSignature), "v1a,"))

	for _, tc := range []struct {
		name    string
		v       webhooksig.Verifier
		payload []byte
		headers http.Header
		want    error
	}{
		{"valid", webhooksig.Verifier{PublicKeys: []webhooksig.PublicKey{p.pk}}, payload, edSigned(now), nil},
		{"tampered body", webhooksig.Verifier{PublicKeys: []webhooksig.PublicKey{p.pk}}, []byte(`{"type":"indicator.deleted"}`), edSigned(now), webhooksig.ErrSignature},
		{"tampered id", webhooksig.Verifier{PublicKeys: []webhooksig.PublicKey{p.pk}}, payload,
			func() http.Header { h := edSigned(now); h.Set(webhooksig.HeaderID, "msg_other"); return h }(), webhooksig.ErrSignature},
		{"another public key", webhooksig.Verifier{PublicKeys: []webhooksig.PublicKey{other.pk}}, payload, edSigned(now), webhooksig.ErrSignature},
		{"rotation: HMAC and ed25519 keys mixed", webhooksig.Verifier{Keys: []webhooksig.Key{hk}, PublicKeys: []webhooksig.PublicKey{other.pk, p.pk}}, payload, edSigned(now), nil},
		{"an HMAC key does not verify v1a", webhooksig.Verifier{Keys: []webhooksig.Key{hk}}, payload, edSigned(now), webhooksig.ErrSignature},
		{"a public key does not verify v1", webhooksig.Verifier{PublicKeys: []webhooksig.PublicKey{p.pk}}, payload, hmacSigned, webhooksig.ErrSignature},
		{"an ed25519 signature labelled v1", webhooksig.Verifier{PublicKeys: []webhooksig.PublicKey{p.pk}}, payload, relabelled, webhooksig.ErrSignature},
		{"v1 and v1a: the HMAC key alone", webhooksig.Verifier{Keys: []webhooksig.Key{hk}}, payload, both, nil},
		{"v1 and v1a: the public key alone", webhooksig.Verifier{PublicKeys: []webhooksig.PublicKey{p.pk}}, payload, both, nil},
		{"stale", webhooksig.Verifier{PublicKeys: []webhooksig.PublicKey{p.pk}}, payload, edSigned(now.Add(-6 * time.Minute)), webhooksig.ErrTimestamp},
		{"future", webhooksig.Verifier{PublicKeys: []webhooksig.PublicKey{p.pk}}, payload, edSigned(now.Add(6 * time.Minute)), webhooksig.ErrTimestamp},
		{"one valid among invalid ones", webhooksig.Verifier{PublicKeys: []webhooksig.PublicKey{p.pk}}, payload,
			func() http.Header {
				h := edSigned(now)
				h.Set(webhooksig.HeaderSignature, junkV1a+" v1a,!!! "+junkV1+" "+h.Get(webhooksig.HeaderSignature))
				return h
			}(), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.v.Clock = clocktest.New(now)
			id, err := tc.v.Verify(tc.payload, tc.headers)
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
				return
			}
			require.NoError(t, err)
			require.Equal(t, "msg_ed", id)
		})
	}
}

// Malformed keys are refused with an error that never holds the key.
func TestParseEd25519KeysRefuseMalformed(t *testing.T) {
	t.Parallel()
	p := newEd25519(t)
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	mismatched := append(append([]byte{}, p.priv.Seed()...), newEd25519(t).pub...)
	for _, s := range []string{"", "whpk_", "whpk_not base64!", "whpk_" + b64(31), "whpk_" + b64(33), b64(32),
		"whsec_" + b64(32), p.whsk, strings.ReplaceAll(p.whpk, "whpk_", "WHPK_")} {
		_, err := webhooksig.ParsePublicKey(s)
		require.ErrorIs(t, err, webhooksig.ErrPublicKey, s)
		requireNoSecret(t, err, s)
	}
	for _, s := range []string{"", "whsk_", "whsk_not base64!", "whsk_" + b64(31), "whsk_" + b64(48),
		base64.StdEncoding.EncodeToString(p.priv), p.whpk,
		"whsk_" + base64.StdEncoding.EncodeToString(mismatched)} {
		_, err := webhooksig.ParseSigningKey(s)
		require.ErrorIs(t, err, webhooksig.ErrSigningKey, s)
		requireNoSecret(t, err, s)
	}
}

// A signing key prints as nothing but [REDACTED], whatever the verb.
func TestSigningKeyNeverPrints(t *testing.T) {
	t.Parallel()
	p := newEd25519(t)
	spellings := []string{strings.TrimPrefix(p.whsk, "whsk_"), hex.EncodeToString(p.priv.Seed()),
		base64.StdEncoding.EncodeToString(p.priv.Seed())}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		for _, v := range []any{p.sk, &p.sk} {
			out := fmt.Sprintf(verb, v)
			for _, s := range spellings {
				require.NotContains(t, out, s, verb)
			}
		}
	}
	require.Equal(t, "[REDACTED]", p.sk.String())
}

// requireNoSecret checks that err does not show s, or its body after a
// prefix, when s is long enough to be a secret.
func requireNoSecret(t *testing.T, err error, s string) {
	t.Helper()
	if _, body, ok := strings.Cut(s, "_"); ok && len(body) >= 8 {
		require.NotContains(t, err.Error(), body)
	}
	if len(s) >= 8 {
		require.NotContains(t, err.Error(), s)
	}
}
