package auth_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/auth"
)

func TestNewToken(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		token, hash, err := auth.NewToken()
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(token, "igt_"), token)
		raw, err := base64.RawURLEncoding.Strict().DecodeString(strings.TrimPrefix(token, "igt_"))
		require.NoError(t, err, "base64url without padding")
		require.Len(t, raw, 32, "256 bits of randomness")
		require.Len(t, token, 4+43)
		require.Equal(t, auth.HashToken(token), hash)
		require.False(t, seen[token], "tokens are unique")
		seen[token] = true
	}
}

func TestHashToken(t *testing.T) {
	t.Parallel()
	// The whole string, prefix included, lower-case hex.
	sum := sha256.Sum256([]byte("igt_abc"))
	require.Equal(t, hex.EncodeToString(sum[:]), auth.HashToken("igt_abc"))
	require.Equal(t, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", auth.HashToken(""))
	require.NotEqual(t, auth.HashToken("igt_abc"), auth.HashToken("abc"))
}
