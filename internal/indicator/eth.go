package indicator

import (
	"errors"
	"strings"

	"golang.org/x/crypto/sha3"
)

var (
	errNotETH      = errors.New("want 0x and 40 hexadecimal digits")
	errETHChecksum = errors.New("the mixed-case (EIP-55) checksum does not match: a character is wrong")
)

// normETH accepts an ethereum address, "0x" and 40 hex digits, and returns
// it lowercase: the case of an address is only a checksum (EIP-55), and
// providers and explorers accept the lowercase form. A mixed-case address
// must carry a valid checksum, so a mistyped one is refused rather than
// looked up; all-lowercase and all-uppercase addresses carry none, as
// EIP-55 specifies.
func normETH(s string) (string, error) {
	if !looksLikeETH(s) {
		return "", errNotETH
	}
	hex := s[2:]
	lower := strings.ToLower(hex)
	if hex != lower && hex != strings.ToUpper(hex) && !eip55Valid(hex, lower) {
		return "", errETHChecksum
	}
	return "0x" + lower, nil
}

// looksLikeETH reports "0x" (or "0X") and 40 hex digits.
func looksLikeETH(s string) bool {
	return len(s) == 42 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && isHex(s[2:])
}

// eip55Valid checks EIP-55: a letter is uppercase exactly when the
// matching nibble of Keccak-256 of the lowercase hex is 8 or more.
func eip55Valid(hex, lower string) bool {
	h := keccak256([]byte(lower))
	for i := 0; i < len(hex); i++ {
		c := hex[i]
		if c <= '9' {
			continue
		}
		nib := h[i/2] >> 4
		if i%2 == 1 {
			nib = h[i/2] & 0xf
		}
		if upper := c <= 'F'; upper != (nib >= 8) {
			return false
		}
	}
	return true
}

// keccak256 is the original Keccak-256 (padding 0x01, not SHA-3's 0x06),
// which ethereum uses; the standard library's crypto/sha3 implements only
// FIPS 202 SHA-3, so it comes from golang.org/x/crypto/sha3.
func keccak256(msg []byte) []byte {
	h := sha3.NewLegacyKeccak256()
	h.Write(msg)
	return h.Sum(nil)
}
