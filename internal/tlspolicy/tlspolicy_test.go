package tlspolicy

import (
	"crypto/tls"
	"testing"

	"github.com/stretchr/testify/require"
)

// Every suite is an ECDHE AEAD suite Go itself considers secure.
func TestCipherSuitesAreSecureAEAD(t *testing.T) {
	t.Parallel()
	secure := map[uint16]bool{}
	for _, s := range tls.CipherSuites() {
		secure[s.ID] = true
	}
	suites := CipherSuites()
	require.NotEmpty(t, suites)
	for _, id := range suites {
		name := tls.CipherSuiteName(id)
		require.True(t, secure[id], "%s is not in crypto/tls's secure list", name)
		require.Regexp(t, `^TLS_ECDHE_(ECDSA|RSA)_WITH_(AES_\d+_GCM_SHA\d+|CHACHA20_POLY1305_SHA256)$`, name)
	}
	suites[0] = 0
	require.NotZero(t, CipherSuites()[0], "callers get their own copy")
}
