package indicator

import (
	"fmt"
	"strings"
)

// hashLen is the length in hex digits of each hash type.
func hashLen(t Type) int {
	switch t {
	case MD5:
		return 32
	case SHA1:
		return 40
	case SHA256:
		return 64
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

// hashType returns the hash type matching s by length, or "" if none.
func hashType(s string) Type {
	if !isHex(s) {
		return ""
	}
	for _, t := range []Type{MD5, SHA1, SHA256} {
		if len(s) == hashLen(t) {
			return t
		}
	}
	return ""
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
