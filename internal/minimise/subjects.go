package minimise

import (
	"net/netip"
	"net/url"
	"strings"

	"github.com/intelgate/intelgate/internal/indicator"
)

// subjects are what the rules look at in one indicator: the whole value,
// and the address or names it carries that could be internal.
//
// The type is a hint for the fast path, never a limit on what is checked:
// a client may send type=username for "10.0.0.1" or "printer.local:631",
// and the provider would receive exactly that string. So a value whose
// type promises nothing (username, phone, an unknown type) or that does
// not have its type's shape is taken apart by shape (guess).
type subjects struct {
	value string     // the normalised value: patterns
	host  string     // a URL's host or an e-mail's domain as written: patterns
	addr  netip.Addr // an IP address (the value or the host), unmapped, zone dropped: cidrs
	alt   netip.Addr // the IPv4 address inside a NAT64 addr: cidrs
	// domain is a domain name (the value, a URL's host or an e-mail's
	// domain) in the indicator package's canonical form: domain_suffixes.
	domain string
	mail   string // an e-mail's domain, canonical: email_domains
}

func subjectsOf(ind indicator.Indicator) subjects {
	s := subjects{value: ind.Value}
	v := ind.Value
	switch ind.Type {
	case indicator.IPv4, indicator.IPv6:
		if s.setAddr(v) {
			return s
		}
	case indicator.Domain:
		// An all-numeric last label is an IPv4 address in disguise, not a
		// name Parse would have called a domain: guess.
		if d := strings.TrimSuffix(v, "."); isCanonDomain(d) && !numericTLD(d) {
			s.domain = d
			return s
		}
	case indicator.MD5, indicator.SHA1, indicator.SHA256:
		if isHex(v) {
			return s // nothing in a hash names a host; patterns still apply
		}
	case indicator.URL:
		s.fromURL(v)
		return s
	case indicator.Email:
		if i := strings.LastIndexByte(v, '@'); i >= 0 {
			s.fromMailDomain(v[i+1:])
			return s
		}
	}
	s.guess(v)
	return s
}

// guess takes apart a value of no particular shape: an address (a zone
// may hold any character), a URL, or else an authority-like string (see
// fromAuthority) whose '@' marks an e-mail.
func (s *subjects) guess(v string) {
	if s.setAddr(v) {
		s.host = v
		return
	}
	if strings.Contains(v, "://") {
		s.fromURL(v)
		return
	}
	s.fromAuthority(v, true)
}

// fromURL parses v with net/url, as the indicator package did. A value
// net/url refuses or finds no host in (only possible for one not made by
// indicator.Parse) is cut by hand instead.
func (s *subjects) fromURL(v string) {
	if u, err := url.Parse(v); err == nil && u.Host != "" {
		s.fromHost(u.Hostname())
		return
	}
	if _, rest, ok := strings.Cut(v, "://"); ok {
		v = rest
	}
	s.fromAuthority(v, false)
}

// fromAuthority judges the part of a before any path, query or fragment
// ("printer.local/x"): after an '@', an e-mail domain (mail) or a URL's
// host; else a host with an optional port ("10.0.0.1:8080",
// "[fd00::1]:80", a bare IPv6 address).
func (s *subjects) fromAuthority(a string, mail bool) {
	if i := strings.IndexAny(a, "/?#"); i >= 0 {
		a = a[:i]
	}
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		if mail {
			s.fromMailDomain(a[i+1:])
			return
		}
		a = a[i+1:]
	}
	s.fromHost(stripPort(a))
}

// fromHost records h as an address or, failing that, a domain name.
func (s *subjects) fromHost(h string) {
	if h == "" {
		return
	}
	s.host = h
	if !s.setAddr(h) {
		s.domain = canonDomain(h)
	}
}

// fromMailDomain records an e-mail's domain: email_domains and
// domain_suffixes both apply (an address at printer.local leaks the name
// printer.local), and an address literal ("[10.0.0.1]") is an address.
func (s *subjects) fromMailDomain(d string) {
	if d == "" {
		return
	}
	s.host = d
	if s.setAddr(d) {
		return
	}
	s.domain = canonDomain(d)
	s.mail = s.domain
}

// setAddr records h (brackets allowed) as an IP address if it is one,
// unmapped (::ffff:10.0.0.1 is 10.0.0.1) and without a zone, which would
// make every prefix miss it.
func (s *subjects) setAddr(h string) bool {
	if len(h) >= 2 && h[0] == '[' && h[len(h)-1] == ']' {
		h = h[1 : len(h)-1]
	}
	if !mayBeAddr(h) {
		return false // a failed ParseAddr allocates its error
	}
	a, err := netip.ParseAddr(h)
	if err != nil {
		return false
	}
	if a.Zone() != "" {
		a = a.WithZone("")
	}
	a = a.Unmap()
	s.addr = a
	if nat64.Contains(a) {
		b := a.As16()
		s.alt = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	return true
}

// mayBeAddr reports whether s, before any zone, holds only what an IP
// address can.
func mayBeAddr(s string) bool {
	addr, _, _ := strings.Cut(s, "%")
	if addr == "" {
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

// stripPort drops a ":port" from a host, keeping a bare IPv6 address
// (several colons) whole and unbracketing "[v6]:port".
func stripPort(h string) string {
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			return h[1:i]
		}
		return h
	}
	if i := strings.IndexByte(h, ':'); i >= 0 && strings.Count(h, ":") == 1 {
		return h[:i]
	}
	return h
}

// canonDomain brings a name to the indicator package's domain form. The
// values Parse makes already are (the fast path, no copy); anything else
// goes through Parse itself, and a name Parse refuses is still compared in
// lower case: refusing to look is not an option for a rule that withholds.
func canonDomain(d string) string {
	d = strings.TrimSuffix(d, ".")
	if isCanonDomain(d) {
		return d
	}
	if ind, err := indicator.Parse(d, indicator.Domain); err == nil {
		return ind.Value
	}
	return strings.ToLower(d)
}

// isCanonDomain reports a name made only of what normalised domains hold.
func isCanonDomain(d string) bool {
	if d == "" {
		return false
	}
	for i := 0; i < len(d); i++ {
		c := d[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func numericTLD(d string) bool {
	tld := d[strings.LastIndexByte(d, '.')+1:]
	return tld == "" || strings.Trim(tld, "0123456789") == ""
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
