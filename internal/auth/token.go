package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// TokenPrefix starts every gateway token, so that secret scanners and
// people can recognise one.
const TokenPrefix = "igt_"

// tokenBytes of randomness: 256 bits.
const tokenBytes = 32

// NewToken returns a fresh 256-bit token and its hex SHA-256.
func NewToken() (token, sha256hex string, err error) {
	var b [tokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("reading random bytes for token: %w", err)
	}
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token), nil
}

// HashToken returns the hex SHA-256 of token (the whole string, prefix
// included): the value config stores as token_sha256. A fast hash is
// enough because tokens carry 256 random bits; there is nothing to brute
// force, unlike a password.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
