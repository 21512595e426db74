package indicator

import (
	"errors"
	"net/netip"
	"strings"
)

// errZone marks an IPv6 zone, which Auto detection must report rather than
// fall through to "username".
var errZone = errors.New("zones (%name) are not accepted: they only mean something on one host")

// The normalisers' fixed reasons, made once: Auto detection tries the
// shapes in turn, so most of these are the normal path of a value of
// another type, not a rare failure.
var (
	errIPv4LeadingZero = errors.New("leading zeros are ambiguous (octal or decimal); write each octet without them")
	errNotIPv4         = errors.New("want four decimal octets 0-255 separated by dots")
	errNotIPv6         = errors.New("want an IPv6 address such as 2001:db8::1")
)

// normIPv4 accepts only the strict dotted quad of net/netip. Leading zeros
// are refused rather than guessed: inet_aton and many tools read
// "010.1.1.1" as octal (8.1.1.1), others as decimal (10.1.1.1), and picking
// one silently could look up the wrong host.
func normIPv4(s string) (string, error) {
	a, err := netip.ParseAddr(s)
	if err == nil && a.Is4() {
		// netip accepts exactly the canonical form for IPv4 (four
		// decimal fields 0-255, no leading zeros, no zone): s is
		// a.String() already.
		return s, nil
	}
	if hasLeadingZeroOctet(s) {
		return "", errIPv4LeadingZero
	}
	return "", errNotIPv4
}

// normIPv6 accepts an IPv6 address, optionally in brackets as in URLs, and
// returns the RFC 5952 form (lowercase, zeros compressed). IPv4-mapped
// addresses stay IPv6 ("::ffff:192.0.2.1"): the caller said or wrote v6.
func normIPv6(s string) (string, error) {
	if len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	if !mayBeIPv6(s) {
		return "", errNotIPv6
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() {
		return "", errNotIPv6
	}
	if a.Zone() != "" {
		return "", errZone
	}
	return a.String(), nil
}

// mayBeIPv6 reports whether netip.ParseAddr could find an IPv6 address in
// s: one needs a colon, and before its zone ("%eth0") only hex digits,
// colons and the dots of an embedded IPv4 address. Auto detection asks
// about every value, and a failed parse allocates its error.
func mayBeIPv6(s string) bool {
	addr, _, _ := strings.Cut(s, "%")
	if !strings.Contains(addr, ":") {
		return false
	}
	for i := 0; i < len(addr); i++ {
		c := addr[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' || c == ':' || c == '.') {
			return false
		}
	}
	return true
}

// looksLikeIPv4 reports a value made only of digits and dots. Such a value
// can be nothing but an attempted IPv4 address (a domain's top-level label
// is never all-numeric), so Auto detection reports why it is invalid
// instead of calling it a username.
func looksLikeIPv4(s string) bool {
	if !strings.Contains(s, ".") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && s[i] != '.' {
			return false
		}
	}
	return true
}

func hasLeadingZeroOctet(s string) bool {
	for p := range strings.SplitSeq(s, ".") {
		if len(p) > 1 && p[0] == '0' {
			return true
		}
	}
	return false
}
