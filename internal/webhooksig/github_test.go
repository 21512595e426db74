package webhooksig_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/webhooksig"
)

// GitHub's documented example ("Validating webhook deliveries"): this
// secret and payload give this signature.
const (
	ghSecret    = "It's a Secret to Everybody"
	ghPayload   = "Hello, World!"
	ghSignature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	ghDelivery  = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
	// ghBodyID is the SHA-256 of ghPayload ("Hello, World!").
	ghBodyID = "sha256:dffd6021bb2bd5b0af676290809ec3a53191dd81c7f70a4b28688a362182986f"
)

func TestGitHub(t *testing.T) {
	t.Parallel()
	headers := func(sig, delivery string) http.Header {
		h := http.Header{}
		if sig != "" {
			h.Set(webhooksig.HeaderGitHubSignature, sig)
		}
		if delivery != "" {
			h.Set(webhooksig.HeaderGitHubDelivery, delivery)
		}
		return h
	}
	const otherSecret = "another secret, also 24+ bytes long"
	signed, err := webhooksig.SignGitHub(ghSecret, ghDelivery, []byte(ghPayload))
	require.NoError(t, err)
	require.Equal(t, ghSignature, signed.Get(webhooksig.HeaderGitHubSignature))

	for _, tc := range []struct {
		name    string
		secrets []string
		payload string
		headers http.Header
		want    error
	}{
		{"valid", []string{ghSecret}, ghPayload, headers(ghSignature, ghDelivery), nil},
		{"valid, upper-case hex", []string{ghSecret}, ghPayload, headers("sha256="+strings.ToUpper(strings.TrimPrefix(ghSignature, "sha256=")), ghDelivery), nil},
		{"rotation: the second secret", []string{otherSecret, ghSecret}, ghPayload, headers(ghSignature, ghDelivery), nil},
		{"tampered body", []string{ghSecret}, "Hello, World?", headers(ghSignature, ghDelivery), webhooksig.ErrSignature},
		{"wrong secret", []string{otherSecret}, ghPayload, headers(ghSignature, ghDelivery), webhooksig.ErrSignature},
		{"sha1 scheme", []string{ghSecret}, ghPayload, headers("sha1="+strings.TrimPrefix(ghSignature, "sha256="), ghDelivery), webhooksig.ErrSignature},
		{"no prefix", []string{ghSecret}, ghPayload, headers(strings.TrimPrefix(ghSignature, "sha256="), ghDelivery), webhooksig.ErrSignature},
		{"truncated", []string{ghSecret}, ghPayload, headers(ghSignature[:len(ghSignature)-2], ghDelivery), webhooksig.ErrSignature},
		{"no signature", []string{ghSecret}, ghPayload, headers("", ghDelivery), webhooksig.ErrMissingHeaders},
		{"no delivery id", []string{ghSecret}, ghPayload, headers(ghSignature, ""), webhooksig.ErrMissingHeaders},
		{"delivery id with a control character", []string{ghSecret}, ghPayload, headers(ghSignature, "abc\x01def"), webhooksig.ErrID},
		{"delivery id too long", []string{ghSecret}, ghPayload, headers(ghSignature, strings.Repeat("a", 257)), webhooksig.ErrID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g, err := webhooksig.NewGitHub(tc.secrets)
			require.NoError(t, err)
			id, err := g.Verify([]byte(tc.payload), tc.headers)
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
				require.Empty(t, id)
				return
			}
			require.NoError(t, err)
			require.Equal(t, ghBodyID, id, "the id is the body's digest, not the unsigned delivery header")
		})
	}

	// A captured delivery replayed under a fresh delivery id has the
	// same id, so deduplication drops it.
	g, err := webhooksig.NewGitHub([]string{ghSecret})
	require.NoError(t, err)
	replayed, err := g.Verify([]byte(ghPayload), headers(ghSignature, "0b989ba4-242f-11e5-81e1-c7b6fdbd7d9f"))
	require.NoError(t, err)
	require.Equal(t, ghBodyID, replayed)
}
