// Package indicator detects, refangs and normalises threat indicators.
//
// Parse is the single entry point: it refuses unsafe input (too long,
// control characters, invalid UTF-8), undoes the common "defanging" that
// analysts apply so indicators cannot be clicked, detects the type when
// asked to (hint Auto) and returns one canonical spelling per indicator, so
// that the cache, quota accounting and audit trail see "EXAMPLE.com" and
// "example[.]com" as the same thing. docs/indicators.md describes the rules.
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
)

// MaxLen is the longest raw indicator accepted, in bytes.
const MaxLen = 2048

// Indicator is a parsed, normalised indicator.
type Indicator struct {
	Raw   string // as received
	Value string // refanged and normalised
	Type  Type   // detected or as hinted (never Auto)
}

// Types returns every concrete indicator type (all but Auto), in the order
// Auto detection considers them. It returns a fresh slice each call so no
// caller can change what another sees.
func Types() []Type {
	return []Type{IPv4, IPv6, URL, Email, MD5, SHA1, SHA256, Phone, Domain, Username}
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
	case IPv4, IPv6, Domain, URL, Email, MD5, SHA1, SHA256, Phone, Username:
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

	var typ Type
	var val string
	if hint == Auto {
		typ, val, err = detect(s)
	} else {
		typ = hint
		val, err = normalize(hint, s)
		if err != nil {
			err = mismatch(hint, err)
		}
	}
	if err != nil {
		return Indicator{}, err
	}
	// Normalisation can grow a value (punycode, percent-encoding in URLs);
	// the limit holds for what we send upstream and store too.
	if len(val) > MaxLen {
		return Indicator{}, &parseError{kind: ErrTooLong,
			msg: fmt.Sprintf("is too long once normalised: %d bytes, limit is %d", len(val), MaxLen)}
	}
	return Indicator{Raw: raw, Value: val, Type: typ}, nil
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
	case MD5, SHA1, SHA256:
		return normHash(t, s)
	case Phone:
		return normPhone(s)
	case Username:
		return normUsername(s)
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
	}
	return string(t)
}
