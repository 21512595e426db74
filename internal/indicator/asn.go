package indicator

import (
	"errors"
	"strconv"
	"strings"
)

var (
	errNotASN   = errors.New("want AS and a number, such as AS13335")
	errASNRange = errors.New("the number is not between 0 and 4294967295 (32 bits)")
)

// normASN accepts "AS13335", "as13335" or "ASN13335", a bare number
// ("13335") and the asdot form ("AS1.10" = AS65546), and returns
// "AS13335", the asplain form of RFC 5396 that registries and providers
// use. Auto detection only hands it "AS"/"ASN" in capitals and digits
// (looksLikeASN): a bare number, "1.10" or "as2020" is far more often
// something else, so those need an explicit type=asn.
func normASN(s string) (string, error) {
	rest, _ := cutASPrefix(s)
	if hi, lo, dot := strings.Cut(rest, "."); dot {
		return asdot(hi, lo)
	}
	n, err := asNumber(rest, 32)
	if err != nil {
		return "", err
	}
	return "AS" + strconv.FormatUint(n, 10), nil
}

// asdot converts the asdot form "hi.lo" (two 16-bit halves) to asplain.
func asdot(hi, lo string) (string, error) {
	h, err := asNumber(hi, 16)
	if err != nil {
		return "", err
	}
	l, err := asNumber(lo, 16)
	if err != nil {
		return "", err
	}
	return "AS" + strconv.FormatUint(h<<16|l, 10), nil
}

// asNumber parses 1 to 10 decimal digits that fit in bits bits.
func asNumber(s string, bits int) (uint64, error) {
	if s == "" || len(s) > 10 || !allDigits(s) {
		return 0, errNotASN
	}
	n, err := strconv.ParseUint(s, 10, bits)
	if err != nil {
		return 0, errASNRange
	}
	return n, nil
}

// cutASPrefix cuts a leading "AS" or "ASN", in any case.
func cutASPrefix(s string) (string, bool) {
	if len(s) < 3 || !strings.EqualFold(s[:2], "AS") {
		return s, false
	}
	if s[2] == 'n' || s[2] == 'N' {
		return s[3:], true
	}
	return s[2:], true
}

// looksLikeASN reports "AS" or "ASN", in capitals as registries and BGP
// tools print them, followed only by digits. Auto detection asks only
// this: "as2020" is as likely a handle as a network, so the lowercase
// spellings need type=asn.
func looksLikeASN(s string) bool {
	if len(s) < 3 || s[0] != 'A' || s[1] != 'S' {
		return false
	}
	rest := s[2:]
	if rest[0] == 'N' {
		rest = rest[1:]
	}
	return rest != "" && allDigits(rest)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
