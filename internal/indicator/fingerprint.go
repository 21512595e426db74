package indicator

import (
	"errors"
	"strings"
)

var errNotJA4 = errors.New("want a JA4 fingerprint such as t13d1516h2_8daaf6152771_b186095e22b6")

// normJA4 accepts a JA4 TLS client fingerprint and returns it lowercase,
// the case the JA4 specification prints. Its shape is exact: the "a" part
// (protocol t, q or d; two characters of TLS version; d or i for SNI; two
// digits each of cipher and extension counts; two characters of ALPN),
// then two 12-hex-digit truncated SHA-256 hashes, joined by '_'. The raw
// forms (ja4_r, ja4_o) and the other JA4+ fingerprints (JA4S, JA4H, JA4X…)
// are not accepted.
//
// A JA3 fingerprint is an MD5 (see hashLen): it cannot be told from one,
// so it is only ever taken with an explicit type=ja3.
func normJA4(s string) (string, error) {
	if !looksLikeJA4(s) {
		return "", errNotJA4
	}
	return strings.ToLower(s), nil
}

// looksLikeJA4 checks the shape, in either case.
func looksLikeJA4(s string) bool {
	if len(s) != 36 || s[10] != '_' || s[23] != '_' {
		return false
	}
	a := strings.ToLower(s[:10])
	switch {
	case strings.IndexByte("tqd", a[0]) < 0,
		!isAlnumLower(a[1]) || !isAlnumLower(a[2]),
		a[3] != 'd' && a[3] != 'i',
		!allDigits(a[4:8]),
		!isAlnumLower(a[8]) || !isAlnumLower(a[9]):
		return false
	}
	return isHex(s[11:23]) && isHex(s[24:])
}

func isAlnumLower(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }
