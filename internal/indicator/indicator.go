// Package indicator detects, refangs and normalises threat indicators.
//
// Parse is the single entry point: it refuses unsafe input (too long,
// control characters, invalid UTF-8), undoes the common "defanging" that
// analysts apply so indicators cannot be clicked, detects the type when
// asked to (hint Auto) and returns one canonical spelling per indicator, so
// that the cache, quota accounting and audit trail see "EXAMPLE.com" and
// "example[.]com" as the same thing. An address or domain written with a
// port, or a domain written as a wildcard, keeps those beside its value
// (Indicator.Port, Indicator.Wildcard), never in it. docs/indicators.md
// describes the rules.
package indicator

import (
	"fmt"
	"strings"
)

// Type is an indicator type.
type Type string

// Indicator types. Auto asks Parse to detect.
const (
	Auto     Type = "auto"
	IPv4     Type = "ipv4"
	IPv6     Type = "ipv6"
	Domain   Type = "domain"
	URL      Type = "url"
	Email    Type = "email"
	MD5      Type = "md5"
	SHA1     Type = "sha1"
	SHA256   Type = "sha256"
	Phone    Type = "phone"
	Username Type = "username"

	CIDR   Type = "cidr"   // an IPv4 or IPv6 network, "10.0.0.0/8"
	ASN    Type = "asn"    // an autonomous system number, "AS13335"
	CVE    Type = "cve"    // a CVE identifier, "CVE-2024-3094"
	SHA512 Type = "sha512" // 128 hex digits
	SSDEEP Type = "ssdeep" // a context-triggered piecewise hash, "3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C"
	TLSH   Type = "tlsh"   // a Trend Micro locality-sensitive hash, "T1" and 70 hex digits
	BTC    Type = "btc"    // a bitcoin mainnet address (base58check or bech32/bech32m)
	ETH    Type = "eth"    // an ethereum address, "0x" and 40 hex digits
	JA3    Type = "ja3"    // a JA3 or JA3S TLS fingerprint (an MD5): explicit type only
	JA4    Type = "ja4"    // a JA4 TLS client fingerprint, "t13d1516h2_8daaf6152771_b186095e22b6"
)

// MaxLen is the longest raw indicator accepted, in bytes.
const MaxLen = 2048

// Indicator is a parsed, normalised indicator.
//
// Value alone identifies what is looked up: the cache, coalescing, quota
// accounting and the audit trail key on Type and Value, so Port and
// Wildcard, which qualify a lookup without changing what it is about, are
// kept beside it and never inside it.
type Indicator struct {
	Raw   string // as received
	Value string // refanged and normalised
	Type  Type   // detected or as hinted (never Auto)

	// Port is the port of an address written with one ("192.0.2.1:443",
	// "[2001:db8::1]:443", "example.com:8443"), for providers that take
	// it; 0 when none was given. Value is the address alone. A URL keeps
	// its port inside Value instead: there it is part of the resource.
	Port uint16

	// Wildcard marks a domain written as "*.example.com" or
	// ".example.com": the name and every name under it. Value is the
	// name without the "*." or ".", so no "*" ever reaches an upstream
	// host name; providers that search subdomains may use the flag.
	Wildcard bool
}

// Types returns every concrete indicator type (all but Auto), in the order
// Auto detection considers them; JA3, which it never detects (a JA3
// fingerprint is an MD5), sits before Username, the fallback. It returns
// a fresh slice each call so no caller can change what another sees.
func Types() []Type {
	return []Type{IPv4, IPv6, CIDR, URL, Email, MD5, SHA1, SHA256, SHA512, TLSH, ETH,
		CVE, ASN, SSDEEP, BTC, JA4, Phone, Domain, JA3, Username}
}

// maxTypeEcho bounds how much of an unknown type name an error repeats.
const maxTypeEcho = 32

// ParseType parses a type name; "" means Auto. Names are matched without
// regard to case ("IPv4" is ipv4) because case carries no meaning in them;
// anything else, including surrounding spaces, is ErrUnknownType.
func ParseType(s string) (Type, error) {
	if s == "" {
		return Auto, nil
	}
	t := Type(strings.ToLower(s))
	if t == Auto || t.concrete() {
		return t, nil
	}
	return "", unknownType(s)
}

// unknownType reports a type name that is none of ours, quoted and cut
// short so a hostile parameter cannot flood a problem body or a log line.
func unknownType(s string) error {
	names := []string{string(Auto)}
	for _, c := range Types() {
		names = append(names, string(c))
	}
	return &parseError{kind: ErrUnknownType, msg: fmt.Sprintf("unknown indicator type %q; want one of %s",
		truncate(s, maxTypeEcho), strings.Join(names, ", "))}
}

// concrete reports whether t is a detectable type (not Auto, not unknown).
func (t Type) concrete() bool {
	switch t {
	case IPv4, IPv6, Domain, URL, Email, MD5, SHA1, SHA256, Phone, Username,
		CIDR, ASN, CVE, SHA512, SSDEEP, TLSH, BTC, ETH, JA3, JA4:
		return true
	}
	return false
}

// Parse refangs, validates, detects (hint Auto) and normalises raw.
//
// The zero Type is treated as Auto. Every error wraps one of the package's
// sentinel errors and its text is a phrase meant to follow a parameter name
// ("query: contains a control character at byte 12"). Errors never repeat
// the indicator itself, because the gateway logs them and indicators are
// only logged when the operator opts in.
func Parse(raw string, hint Type) (Indicator, error) {
	if hint == "" {
		hint = Auto
	}
	if hint != Auto && !hint.concrete() {
		// Hints are exact: ParseType is where names are folded to our case.
		return Indicator{}, unknownType(string(hint))
	}
	s, err := checkInput(raw)
	if err != nil {
		return Indicator{}, err
	}
	s = refang(s)

	ind, err := parse(s, hint)
	if err != nil {
		return Indicator{}, err
	}
	// Normalisation can grow a value (punycode, percent-encoding in URLs);
	// the limit holds for what we send upstream and store too.
	if len(ind.Value) > MaxLen {
		return Indicator{}, &parseError{kind: ErrTooLong,
			msg: fmt.Sprintf("is too long once normalised: %d bytes, limit is %d", len(ind.Value), MaxLen)}
	}
	ind.Raw = raw
	return ind, nil
}

// parse detects (hint Auto) or checks the type of a refanged value. The
// host forms that carry a port or a wildcard go first: they are the only
// ones that fill more of Indicator than Type and Value.
func parse(s string, hint Type) (Indicator, error) {
	if ind, ok, err := parseHost(s, hint); ok {
		return ind, err
	}
	if hint == Auto {
		typ, val, err := detect(s)
		return Indicator{Type: typ, Value: val}, err
	}
	val, err := normalize(hint, s)
	if err != nil {
		return Indicator{}, mismatch(hint, err)
	}
	return Indicator{Type: hint, Value: val}, nil
}

// normalize validates s as type t and returns its canonical form. The error
// is a bare reason; callers wrap it with mismatch.
func normalize(t Type, s string) (string, error) {
	switch t {
	case IPv4:
		return normIPv4(s)
	case IPv6:
		return normIPv6(s)
	case Domain:
		return normDomain(s)
	case URL:
		return normURL(s)
	case Email:
		return normEmail(s)
	case MD5, SHA1, SHA256, SHA512, JA3:
		return normHash(t, s)
	case Phone:
		return normPhone(s)
	case Username:
		return normUsername(s)
	case CIDR:
		return normCIDR(s)
	case ASN:
		return normASN(s)
	case CVE:
		return normCVE(s)
	case SSDEEP:
		return normSSDEEP(s)
	case TLSH:
		return normTLSH(s)
	case BTC:
		return normBTC(s)
	case ETH:
		return normETH(s)
	case JA4:
		return normJA4(s)
	}
	return "", fmt.Errorf("no normaliser for %s", t)
}

// noun names a type in messages: "value is not a valid <noun>".
func (t Type) noun() string {
	switch t {
	case IPv4:
		return "ipv4 address"
	case IPv6:
		return "ipv6 address"
	case Domain:
		return "domain name"
	case URL:
		return "url"
	case Email:
		return "email address"
	case MD5:
		return "md5 hash"
	case SHA1:
		return "sha1 hash"
	case SHA256:
		return "sha256 hash"
	case Phone:
		return "phone number"
	case Username:
		return "username"
	case CIDR:
		return "cidr prefix"
	case ASN:
		return "autonomous system number"
	case CVE:
		return "cve identifier"
	case SHA512:
		return "sha512 hash"
	case SSDEEP:
		return "ssdeep hash"
	case TLSH:
		return "tlsh hash"
	case BTC:
		return "bitcoin address"
	case ETH:
		return "ethereum address"
	case JA3:
		return "ja3 fingerprint"
	case JA4:
		return "ja4 fingerprint"
	}
	return string(t)
}
