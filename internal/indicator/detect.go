package indicator

import (
	"errors"
	"strings"
)

// detect finds the type of a refanged, trimmed value and normalises it.
//
// The order goes from the most constrained shape to the least, so no test
// can steal a value another type owns: IP addresses and prefixes (digits,
// dots, colons, a '/') before anything that could contain them; URLs
// before emails and domains (a URL can contain both); emails before
// domains (an email contains one); hashes, identifiers, addresses and
// fingerprints, whose shapes are exact, before phone numbers, domains and
// usernames; domains before usernames, which take whatever is left.
//
// When a value commits to a shape — only digits and dots, a leading
// "http:", "+" and digits, "CVE-", "0x" and 40 hex digits — but is
// invalid for that type, detect reports why rather than falling through
// to "username": a mistyped IP address looked up as a username would
// spend quota on a certain miss and hide the mistake.
func detect(s string) (Type, string, error) {
	if looksLikeIPv4(s) {
		return finish(IPv4, s)
	}
	if v, err := normIPv6(s); err == nil {
		return IPv6, v, nil
	} else if errors.Is(err, errZone) {
		return "", "", mismatch(IPv6, err)
	}
	if looksLikeCIDR(s) {
		return finish(CIDR, s)
	}
	if hasURLScheme(s) {
		return finish(URL, s)
	}
	if i := strings.IndexByte(s, '@'); i > 0 {
		if v, err := normEmail(s); err == nil {
			return Email, v, nil
		}
	}
	if t := hashType(s); t != "" {
		return finish(t, s)
	}
	if t := shapeType(s); t != "" {
		return finish(t, s)
	}
	if looksLikePhone(s) {
		return finish(Phone, s)
	}
	if v, err := normDomain(s); err == nil && knownTLD(v) {
		return Domain, v, nil
	}
	if schemelessURL(s) {
		return "", "", mismatch(URL, errors.New("the scheme is missing; add http:// or https://"))
	}
	return finish(Username, s)
}

// shapeType returns the type whose exact shape s has, among those with
// one: TLSH ("T1" and 70 hex digits), ethereum ("0x" and 40 hex digits),
// CVE ("CVE-"), ASN ("AS" and digits), ssdeep, bitcoin and JA4. Each test
// looks at the first byte or the length before anything costlier, since
// every username passes through here.
func shapeType(s string) Type {
	switch {
	case looksLikeTLSH(s):
		return TLSH
	case looksLikeETH(s):
		return ETH
	case looksLikeCVE(s):
		return CVE
	case looksLikeASN(s):
		return ASN
	case detectSSDEEP(s):
		return SSDEEP
	case detectBTC(s):
		return BTC
	case looksLikeJA4(s):
		return JA4
	}
	return ""
}

// finish normalises s as t, wrapping a failure as a type mismatch.
func finish(t Type, s string) (Type, string, error) {
	v, err := normalize(t, s)
	if err != nil {
		return "", "", mismatch(t, err)
	}
	return t, v, nil
}

// schemelessURL reports "evil.example/login.php": a known domain or an IPv4
// address followed by a path or query. Refusing it with advice is better
// than looking it up as a username, and guessing http:// or https:// would
// change the indicator.
func schemelessURL(s string) bool {
	i := strings.IndexAny(s, "/?")
	if i <= 0 {
		return false
	}
	host := s[:i]
	if h, _, ok := strings.Cut(host, ":"); ok {
		host = h // "evil.example:8080/x"
	}
	if _, err := normIPv4(host); err == nil {
		return true
	}
	v, err := normDomain(host)
	return err == nil && knownTLD(v)
}
