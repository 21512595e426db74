package indicator

import (
	"errors"
	"net/netip"
	"strings"
)

var errNotCIDR = errors.New("want an address, '/' and a prefix length, such as 10.0.0.0/8 or 2001:db8::/32")

// normCIDR accepts an IPv4 or IPv6 prefix in CIDR notation and returns its
// network: the address with the host bits cleared, in the canonical form
// of net/netip ("10.1.2.3/8" → "10.0.0.0/8", "2001:DB8::/32" →
// "2001:db8::/32").
//
// Host bits are cleared rather than refused because every tool agrees on
// what "10.1.2.3/8" covers: it is how interfaces are written ("ip addr"),
// and the set of addresses, which is what a lookup asks about, is the same
// as that of "10.0.0.0/8". Unlike a leading zero in an address, nothing is
// guessed. What net/netip refuses stays refused: leading zeros in an IPv4
// octet or in the length ("/08"), zones, a length beyond 32 or 128.
func normCIDR(s string) (string, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		if a, _, ok := strings.Cut(s, "/"); ok && !strings.Contains(a, ":") && hasLeadingZeroOctet(a) {
			return "", errIPv4LeadingZero
		}
		return "", errNotCIDR
	}
	return p.Masked().String(), nil
}

// looksLikeCIDR reports an IPv4 or IPv6 address shape, '/' and digits: a
// value that can be nothing but an attempted prefix, so Auto detection
// reports why it is invalid instead of calling it a username.
func looksLikeCIDR(s string) bool {
	i := strings.IndexByte(s, '/')
	if i <= 0 || i == len(s)-1 || len(s)-i-1 > 3 {
		return false
	}
	for j := i + 1; j < len(s); j++ {
		if s[j] < '0' || s[j] > '9' {
			return false
		}
	}
	a := s[:i]
	return looksLikeIPv4(a) || mayBeIPv6(a)
}
