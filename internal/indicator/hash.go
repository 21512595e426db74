package indicator

import (
	"fmt"
	"strings"
)

// hashLen is the length in hex digits of each hash type. A JA3 (or JA3S)
// fingerprint is the MD5 of the handshake's fields.
func hashLen(t Type) int {
	switch t {
	case MD5, JA3:
		return 32
	case SHA1:
		return 40
	case SHA256:
		return 64
	case SHA512:
		return 128
	}
	return 0
}

// normHash accepts exactly the right number of hex digits and lowercases
// them: hex case carries no meaning and providers disagree on which to use.
func normHash(t Type, s string) (string, error) {
	want := hashLen(t)
	if !isHex(s) {
		return "", fmt.Errorf("want %d hexadecimal digits, found a non-hex character", want)
	}
	if len(s) != want {
		return "", fmt.Errorf("want %d hexadecimal digits, got %d", want, len(s))
	}
	return strings.ToLower(s), nil
}

// hashType returns the hash type matching s by length, or "" if none. A
// JA3 fingerprint is never detected: it is an MD5 and looks like one.
func hashType(s string) Type {
	switch len(s) {
	case 32, 40, 64, 128:
	default:
		return ""
	}
	if !isHex(s) {
		return ""
	}
	switch len(s) {
	case 32:
		return MD5
	case 40:
		return SHA1
	case 64:
		return SHA256
	}
	return SHA512
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return s != ""
}
