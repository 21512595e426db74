package minimise

import (
	"net/netip"
	"strings"
)

// Addresses in every form a resolver or a network stack accepts: inet_aton
// IPv4, and the IPv4 addresses IPv6 carries.

// setAddr records h (brackets allowed) as an IP address if it is one. An
// IPv6 address is unmapped (::ffff:10.0.0.1 is 10.0.0.1) and its zone,
// which would make every prefix miss it, dropped. An IPv4 address may be
// in any inet_aton form, but a lone number below 2^24 (an address in
// 0.0.0.0/8, never a host anyone means) counts only as a URL's host
// (host): in text it is a count, a year, an id.
func (s *subjects) setAddr(h string, host bool) bool {
	if len(h) >= 2 && h[0] == '[' && h[len(h)-1] == ']' {
		h = h[1 : len(h)-1]
	}
	if strings.IndexByte(h, ':') >= 0 {
		// The zone is dropped anyway, and may be anything (or empty).
		h, _, _ = strings.Cut(h, "%")
		if !mayBeAddr(h) {
			return false // a failed ParseAddr allocates its error
		}
		a, err := netip.ParseAddr(h)
		if err != nil {
			return false
		}
		s.addIPv6(a)
		return true
	}
	a, alt, small, ok := parseIPv4(h)
	if !ok || small && !host {
		return false
	}
	s.add(a)
	if alt.IsValid() {
		s.add(alt)
	}
	return true
}

// setDomain records d as the domain and, for a reverse-DNS name
// ("1.0.0.10.in-addr.arpa", "….d.f.ip6.arpa"), the address it names; a
// partial one names a network, judged as its first address.
func (s *subjects) setDomain(d string) {
	s.domain = d
	if len(d) < 9 || !strings.EqualFold(d[len(d)-5:], ".arpa") {
		return
	}
	switch {
	case len(d) > 13 && strings.EqualFold(d[len(d)-13:], ".in-addr.arpa"):
		var b [4]byte
		n := 0
		for l := d[:len(d)-13]; l != ""; n++ {
			label := l
			if i := strings.LastIndexByte(l, '.'); i >= 0 {
				label, l = l[i+1:], l[:i]
			} else {
				l = ""
			}
			o, ok := parseQuadPart(label)
			if n == 4 || !ok {
				return
			}
			b[n] = o
		}
		s.add(netip.AddrFrom4(b))
	case len(d) > 9 && strings.EqualFold(d[len(d)-9:], ".ip6.arpa"):
		var b [16]byte
		n := 0
		for l := d[:len(d)-9]; l != ""; n++ {
			label := l
			if i := strings.LastIndexByte(l, '.'); i >= 0 {
				label, l = l[i+1:], l[:i]
			} else {
				l = ""
			}
			if n == 32 || len(label) != 1 || !isHexDigit(label[0]) {
				return
			}
			b[n/2] |= unhex(label[0]) << (4 * (1 - n%2))
		}
		s.addIPv6(netip.AddrFrom16(b))
	}
}

// parseQuadPart reads one decimal octet, without leading zeros.
func parseQuadPart(p string) (byte, bool) {
	if p == "" || len(p) > 3 || len(p) > 1 && p[0] == '0' || !allDigits(p) {
		return 0, false
	}
	v := 0
	for i := 0; i < len(p); i++ {
		v = v*10 + int(p[i]-'0')
	}
	return byte(v), v <= 255
}

// Prefixes whose addresses embed an IPv4 address.
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")   // RFC 6052 well-known prefix: last 32 bits
	nat64L    = netip.MustParsePrefix("64:ff9b:1::/48") // RFC 8215 local use: RFC 6052 layouts /48 to /96
	sixToFour = netip.MustParsePrefix("2002::/16")      // RFC 3056: bits 16-48
	teredo    = netip.MustParsePrefix("2001::/32")      // RFC 4380: server bits 32-64, client ^ last 32
)

// addIPv6 records a, unmapped and without zone, and every IPv4 address
// it embeds: IPv4-compatible ::/96, IPv4-translated ::ffff:0:0:0/96, the
// NAT64 prefixes (each RFC 6052 layout that fits 64:ff9b:1::/48), 6to4,
// Teredo's server and client, an ISATAP interface identifier.
func (s *subjects) addIPv6(a netip.Addr) {
	a = a.WithZone("").Unmap()
	s.add(a)
	if !a.Is6() {
		return
	}
	b := a.As16()
	v4 := func(p, q, r, t byte) { s.add(netip.AddrFrom4([4]byte{p, q, r, t})) }
	switch {
	case zero(b[:12]):
		v4(b[12], b[13], b[14], b[15])
	case zero(b[:8]) && b[8] == 0xff && b[9] == 0xff && b[10] == 0 && b[11] == 0:
		v4(b[12], b[13], b[14], b[15])
	case nat64.Contains(a):
		v4(b[12], b[13], b[14], b[15])
	case nat64L.Contains(a):
		v4(b[6], b[7], b[9], b[10])   // /48
		v4(b[7], b[9], b[10], b[11])  // /56
		v4(b[9], b[10], b[11], b[12]) // /64
		v4(b[12], b[13], b[14], b[15])
	case sixToFour.Contains(a):
		v4(b[2], b[3], b[4], b[5])
	case teredo.Contains(a):
		v4(b[4], b[5], b[6], b[7])
		v4(^b[12], ^b[13], ^b[14], ^b[15])
	}
	if b[8]&^3 == 0 && b[9] == 0 && b[10] == 0x5e && b[11] == 0xfe && !zero(b[:8]) {
		v4(b[12], b[13], b[14], b[15]) // ISATAP (RFC 5214), any prefix
	}
}

func zero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// parseIPv4 reads s as inet_aton(3) and WHATWG URL hosts do: one to four
// parts separated by dots (trailing dots and a "%zone" ignored), each
// decimal, 0x-hex or 0-octal; every part but the last at most 255, the
// last filling the bytes left ("10.1" is 10.0.0.1, "2130706433"
// 127.0.0.1); an overflow is no address. alt is the reading of tools that
// take leading zeros as decimal ("012.0.0.1": 12.0.0.1 beside 10.0.0.1)
// when it differs; an octal part with an 8 or 9 has only that reading.
// small reports a single part below 2^24.
func parseIPv4(s string) (a, alt netip.Addr, small, ok bool) {
	if a, ok := parseQuad(s); ok {
		return a, alt, false, true // the common case, in one pass
	}
	if i := strings.IndexByte(s, '%'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimRight(s, ".")
	if s == "" || s[0] < '0' || s[0] > '9' {
		return a, alt, false, false
	}
	var prim, dec [4]uint64
	primOK, decOK := true, true
	n := 0
	for rest := s; ; n++ {
		part, tail, more := strings.Cut(rest, ".")
		if n == 4 || part == "" {
			return a, alt, false, false
		}
		p, d, pok, dok, numeric := parsePart(part)
		if !numeric {
			return a, alt, false, false
		}
		prim[n], dec[n] = p, d
		primOK, decOK = primOK && pok, decOK && dok
		if !more {
			n++
			break
		}
		rest = tail
	}
	pa, pv := compose(prim, n)
	da, dv := compose(dec, n)
	primOK, decOK = primOK && pv, decOK && dv
	switch {
	case primOK:
		a = pa
		if decOK && da != pa {
			alt = da
		}
		small = n == 1 && prim[0] < 1<<24
	case decOK:
		a = da
		small = n == 1 && dec[0] < 1<<24
	default:
		return a, alt, false, false
	}
	return a, alt, small, true
}

// parseQuad parses the canonical dotted quad: four decimal octets, no
// leading zeros.
func parseQuad(s string) (netip.Addr, bool) {
	var b [4]byte
	n, v, digits := 0, 0, 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if digits == 0 || n == 4 {
				return netip.Addr{}, false
			}
			b[n] = byte(v)
			n, v, digits = n+1, 0, 0
			continue
		}
		c := s[i]
		if c < '0' || c > '9' || digits > 0 && v == 0 {
			return netip.Addr{}, false
		}
		v = v*10 + int(c-'0')
		digits++
		if v > 255 {
			return netip.Addr{}, false
		}
	}
	if n != 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(b), true
}

// parsePart reads one part: p in inet_aton's base, d with leading zeros
// read as decimal; numeric is false for anything but digits (and 0x-hex).
// Values saturate above 2^32, which compose refuses.
func parsePart(part string) (p, d uint64, pok, dok, numeric bool) {
	const over = 1 << 33
	if len(part) >= 2 && part[0] == '0' && (part[1] == 'x' || part[1] == 'X') {
		for i := 2; i < len(part); i++ {
			if !isHexDigit(part[i]) {
				return 0, 0, false, false, false
			}
			p = min(p<<4|uint64(unhex(part[i])), over)
		}
		return p, p, true, true, true // "0x" alone is 0, as for browsers
	}
	octal := len(part) > 1 && part[0] == '0'
	pok, dok = true, true
	for i := 0; i < len(part); i++ {
		c := part[i]
		if c < '0' || c > '9' {
			return 0, 0, false, false, false
		}
		d = min(d*10+uint64(c-'0'), over)
		if octal {
			if c > '7' {
				pok = false
			}
			p = min(p*8+uint64(c-'0'), over)
		}
	}
	if !octal {
		p = d
	}
	return p, d, pok, dok, true
}

// compose builds the address from n parts, refusing an overflow.
func compose(v [4]uint64, n int) (netip.Addr, bool) {
	var x uint64
	for i := range n - 1 {
		if v[i] > 255 {
			return netip.Addr{}, false
		}
		x |= v[i] << (8 * (3 - i))
	}
	last := v[n-1]
	if last >= 1<<(8*(5-n)) {
		return netip.Addr{}, false
	}
	x |= last
	return netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)}), true
}

// endsInNumber reports a name whose last label (trailing dot dropped) is
// a number, decimal or 0x-hex: WHATWG then parses the host as IPv4.
func endsInNumber(d string) bool {
	d = strings.TrimRight(d, ".")
	last := d[strings.LastIndexByte(d, '.')+1:]
	if len(last) >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X') {
		for i := 2; i < len(last); i++ {
			if !isHexDigit(last[i]) {
				return false
			}
		}
		return true
	}
	return last == "" || allDigits(last)
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
		if !(isHexDigit(c) || c == ':' || c == '.') {
			return false
		}
	}
	return true
}
