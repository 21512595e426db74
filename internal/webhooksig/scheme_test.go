package webhooksig_test

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/webhooksig"
)

func TestNewSchemeByName(t *testing.T) {
	t.Parallel()
	_, hmacSecret := newKey(t)
	clk := clocktest.New(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC))
	for _, tc := range []struct {
		name    string
		secrets []string
	}{
		{webhooksig.SchemeStandard, []string{hmacSecret, newEd25519(t).whpk}},
		{webhooksig.SchemeGitHub, []string{ghSecret}},
		{webhooksig.SchemeStripe, []string{stripeSecret}},
	} {
		s, err := webhooksig.NewScheme(tc.name, tc.secrets, 0, clk)
		require.NoError(t, err, tc.name)
		require.NotNil(t, s)
	}
	require.Equal(t, []string{"standard", "github", "stripe"}, webhooksig.SchemeNames())

	s, err := webhooksig.NewScheme("svix", []string{hmacSecret}, 0, clk)
	require.Nil(t, s)
	require.EqualError(t, err, `unknown webhook scheme "svix": want one of standard, github, stripe`)
}

// A mixed list becomes HMAC keys and public keys; a whsk_ is refused.
func TestNewStandardSortsKeys(t *testing.T) {
	t.Parallel()
	_, h1 := newKey(t)
	_, h2 := newKey(t)
	p := newEd25519(t)
	v, err := webhooksig.NewStandard([]string{h1, p.whpk, strings.TrimPrefix(h2, "whsec_")}, 0, nil)
	require.NoError(t, err)
	require.Len(t, v.Keys, 2)
	require.Len(t, v.PublicKeys, 1)
	require.Equal(t, p.whpk, v.PublicKeys[0].String())
}

// Every constructor refuses an unusable secret by its position, and the
// error never shows the secret.
func TestConstructorsRefuseBadSecrets(t *testing.T) {
	t.Parallel()
	_, good := newKey(t)
	p := newEd25519(t)
	short := "whsec_" + base64.StdEncoding.EncodeToString([]byte("only twenty-three bytes"))
	raw := make([]byte, 31)
	_, _ = rand.Read(raw)
	badPK := "whpk_" + base64.StdEncoding.EncodeToString(raw)
	for _, tc := range []struct {
		scheme  string
		secrets []string
		tol     time.Duration
		want    error  // nil: only the message is checked
		msg     string // a substring of the error
		secret  string // must not appear
	}{
		{"standard", nil, 0, nil, "at least one secret", ""},
		{"standard", []string{good}, -time.Second, nil, "tolerance must not be negative", ""},
		{"standard", []string{good, short}, 0, webhooksig.ErrWeakSecret, "standard secret 2", short},
		{"standard", []string{good, ""}, 0, webhooksig.ErrWeakSecret, "standard secret 2", ""},
		{"standard", []string{badPK}, 0, webhooksig.ErrPublicKey, "standard secret 1", badPK},
		{"standard", []string{p.whsk}, 0, nil, "standard secret 1 is a whsk_ signing key", p.whsk},
		{"github", []string{}, 0, nil, "at least one secret", ""},
		{"github", []string{"short secret"}, 0, webhooksig.ErrShortSecret, "github secret 1", "short secret"},
		{"github", []string{ghSecret, ""}, 0, webhooksig.ErrShortSecret, "github secret 2", ""},
		{"stripe", []string{"whsec_twenty-three bytes long.."[:29]}, 0, webhooksig.ErrShortSecret, "stripe secret 1", "twenty-three"},
		{"stripe", []string{stripeSecret}, -time.Minute, nil, "tolerance must not be negative", ""},
	} {
		s, err := webhooksig.NewScheme(tc.scheme, tc.secrets, tc.tol, nil)
		require.Error(t, err, "%s %v", tc.scheme, tc.msg)
		require.Nil(t, s)
		if tc.want != nil {
			require.ErrorIs(t, err, tc.want)
		}
		require.Contains(t, err.Error(), tc.msg)
		if tc.secret != "" {
			requireNoSecret(t, err, tc.secret)
		}
	}
}

func TestCheckID(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"msg_p5jXN8AQM9LWM0D4loKWxJek", ghDelivery, "evt_1", "a", strings.Repeat("x", 256), "!~{}|"} {
		require.NoError(t, webhooksig.CheckID(id), id)
	}
	for _, id := range []string{"", strings.Repeat("x", 257), "a b", "a\nb", "a\rb", "a\tb", "a\x00b", "a\x7fb",
		"caf\u00e9", "a\u202eb", "\x85", "\xff"} {
		err := webhooksig.CheckID(id)
		require.ErrorIs(t, err, webhooksig.ErrID, "%q", id)
		if len(id) > 0 {
			require.NotContains(t, err.Error(), id)
		}
	}
}

// The id a verifier returns has passed CheckID, for every scheme: a
// signed message with an unfit id is refused, not returned.
func TestVerifyRefusesUnfitIDs(t *testing.T) {
	t.Parallel()
	k, secret := newKey(t)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	v, err := webhooksig.NewStandard([]string{secret}, 0, clocktest.New(now))
	require.NoError(t, err)
	// Sign refuses dots, spaces and line breaks only; the rest is the verifier's to refuse.
	for _, id := range []string{strings.Repeat("m", 257), "msg_\x01", "msg_\u00e9"} {
		h, err := k.Sign(id, now, []byte("{}"))
		require.NoError(t, err)
		_, err = v.Verify([]byte("{}"), h)
		require.True(t, errors.Is(err, webhooksig.ErrID), "%q: %v", id, err)
	}
}
