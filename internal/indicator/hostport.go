package indicator

import (
	"errors"
	"strconv"
	"strings"
)

var (
	errPort         = errors.New("port is not between 1 and 65535")
	errWildcardType = errors.New("a wildcard (*. or a leading dot) only qualifies a domain name")
)

// parseHost handles the two host forms that qualify a lookup without
// changing what it is about: an address or a domain with a port
// ("192.0.2.1:443", "[2001:db8::1]:443", "evil.example:8080") and a
// wildcard domain ("*.example.com", ".example.com"). The port and the
// wildcard go into Indicator's Port and Wildcard fields, never into
// Value, which stays the address or the name alone.
//
// ok is false when s is neither form, or when under Auto the host is not
// an address or a known domain ("alice:1234" stays a username): Parse
// then goes on as for any other value. Once the host is an IPv4 address,
// a bracketed IPv6 address or a known domain, a bad port is an error, not
// a username.
func parseHost(s string, hint Type) (ind Indicator, ok bool, err error) {
	switch hint {
	case Auto, IPv4, IPv6, Domain:
	default:
		return Indicator{}, false, nil
	}
	host, portStr, hasPort := splitPort(s)
	if !hasPort {
		host = s
	}
	name, wild := cutWildcard(host)
	if !hasPort && !wild {
		return Indicator{}, false, nil
	}

	typ := hint
	if hint == Auto {
		if typ = hostType(host, name, wild); typ == "" {
			return Indicator{}, false, nil
		}
	}
	if wild && typ != Domain {
		return Indicator{}, true, mismatch(typ, errWildcardType)
	}
	val, err := normalize(typ, name)
	if err != nil {
		return Indicator{}, true, mismatch(typ, err)
	}
	ind = Indicator{Type: typ, Value: val, Wildcard: wild}
	if hasPort {
		if ind.Port, err = parsePort(portStr); err != nil {
			return Indicator{}, true, mismatch(typ, err)
		}
	}
	return ind, true, nil
}

// hostType is the type Auto gives a host written with a port or a
// wildcard, or "" when the host is not one (the value is then detected
// like any other).
func hostType(host, name string, wild bool) Type {
	switch {
	case wild:
		if v, err := normDomain(name); err == nil && knownTLD(v) {
			return Domain
		}
	case host[0] == '[':
		return IPv6 // splitPort only leaves brackets around a host it found
	case looksLikeIPv4(host):
		return IPv4
	default:
		if v, err := normDomain(host); err == nil && knownTLD(v) {
			return Domain
		}
	}
	return ""
}

// splitPort cuts "host:port" where port is all digits. An unbracketed
// host may hold no other colon, so an IPv6 address ("2001:db8::1") or an
// ssdeep hash is never cut; an IPv6 address with a port must be written
// in brackets, as RFC 3986 does.
func splitPort(s string) (host, port string, ok bool) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return "", "", false
	}
	host, port = s[:i], s[i+1:]
	for j := 0; j < len(port); j++ {
		if port[j] < '0' || port[j] > '9' {
			return "", "", false
		}
	}
	if host[0] == '[' {
		return host, port, host[len(host)-1] == ']'
	}
	if strings.IndexByte(host, ':') >= 0 {
		return "", "", false
	}
	return host, port, true
}

// cutWildcard cuts a leading "*." or "." from a name. Both spellings mean
// the name and every name under it: "*." in certificates and DNS zones,
// the leading dot in cookie domains, proxy bypass lists and suffix rules.
func cutWildcard(s string) (string, bool) {
	if rest, ok := strings.CutPrefix(s, "*."); ok {
		return rest, true
	}
	if len(s) > 1 && s[0] == '.' && s[1] != '.' {
		return s[1:], true
	}
	return s, false
}

// parsePort parses the digits splitPort found; "0443" is 443, as in URLs.
func parsePort(s string) (uint16, error) {
	if len(s) > 5 {
		return 0, errPort
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, errPort
	}
	return uint16(n), nil
}
