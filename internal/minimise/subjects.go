package minimise

import (
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/intelgate/intelgate/internal/indicator"
)

// What the rules judge in one indicator, and how it is found.
//
// The type is a hint for the fast path, never a limit on what is checked:
// a client may send type=username for "10.0.0.1" or "printer.local:631",
// and /v1/resolve forwards its query as sent, so the vendor receives
// exactly that string. A value whose type promises nothing (username,
// phone, an unknown type) or that does not have its type's shape is taken
// apart by shape, and every name or address a common client would reach
// from it is judged:
//
//   - free text is cut into tokens at whitespace, ',', ';', '|' and '='
//     (and their full-width forms), quotes and brackets trimmed; the whole
//     and every token are judged;
//   - it is also cut at every rune no host name or address holds (see
//     isHardSep: all punctuation, symbols, separators, format and control
//     characters but '.', '-' and the IDNA full stops), and every piece,
//     and every piece with ':' kept as an IPv6 candidate, is judged:
//     "“printer.local”", "**10.0.0.1**", "x/printer.local",
//     "a:b:10.0.0.1", "printer.local@x"; at most maxPieces pieces, beyond
//     which the value is withheld (RuleTooManyPieces). Format characters
//     (zero-width spaces, U+180E) are also dropped and the rest judged
//     again. An e-mail's local part is judged the same way;
//   - a URL's host is found as a browser (WHATWG URL) finds it for http,
//     https, ftp, ws and wss: '\' ends the authority like '/', any number
//     of slashes may follow the scheme ("http:/h", "http:h"), "//h/x" is
//     scheme-relative, userinfo ends at the last '@', the port and
//     brackets are dropped, the host is percent-decoded. As RFC 3986
//     parsers read '\' as data, that reading is judged too;
//   - a host is lower-cased, mapped by IDNA (full-width forms, the full
//     stops "。", "．", "｡" as '.') and its trailing dots dropped;
//   - a numeric host or token is an IPv4 address in every inet_aton form
//     (see parseIPv4), and an IPv6 address is also judged as each IPv4
//     address it embeds (see addIPv6);
//   - an e-mail's domain may be an address literal: "[10.0.0.1]",
//     "[IPv6:fd00::1]";
//   - a reverse-DNS name (in-addr.arpa, ip6.arpa) is also the address it
//     names.
//
// When in doubt the value is withheld: a false positive costs a lookup, a
// false negative tells a vendor an internal name.

// subjects are what the rules look at in one reading of one token.
type subjects struct {
	value string    // the token as given: patterns
	hosts [2]string // a host as written and normalised (when it differs): patterns
	// addrs are the IP addresses named, unmapped and without zone, then
	// the IPv4 addresses an IPv6 address embeds, or another reading of
	// an ambiguous IPv4 form: cidrs. addIPv6 adds at most 6.
	addrs [8]netip.Addr
	naddr int
	// domain is a domain name in the indicator package's canonical form:
	// domain_suffixes.
	domain string
	mail   string // an e-mail's domain, canonical: email_domains
}

func (s *subjects) add(a netip.Addr) {
	if s.naddr < len(s.addrs) {
		s.addrs[s.naddr] = a
		s.naddr++
	}
}

// verdict runs an indicator's subjects through a global and an optional
// provider rule set and keeps the rule to report: the first global rule
// any subject falls under, else the first provider rule. It is a struct,
// not a callback, so that the common path allocates nothing.
type verdict struct {
	global, provider *Rules
	rule             string
	found            bool   // a rule matched (maybe only a provider's)
	done             bool   // a global rule matched: nothing can change the answer
	pending          string // the current token, until a subject carries it to patterns
	depth            int    // nesting of percent-decoded authorities
}

// see judges one subject.
func (v *verdict) see(s *subjects) {
	if v.done {
		return
	}
	if name, ok := v.global.match(s); ok {
		v.rule, v.found, v.done = name, true, true
		return
	}
	if !v.found && v.provider != nil {
		if name, ok := v.provider.match(s); ok {
			v.rule, v.found = name, true
		}
	}
}

// emit judges a subject found in the current token, which it carries to
// the patterns if no subject did yet.
func (v *verdict) emit(s *subjects) {
	s.value, v.pending = v.pending, ""
	v.see(s)
}

// judge judges ind: its value by its type's fast path when the value has
// the type's shape, else by shape; and the raw input when it differs from
// the value, since /v1/resolve forwards what was received.
func (v *verdict) judge(ind indicator.Indicator) {
	v.typed(ind.Value, ind.Type)
	if ind.Raw == ind.Value || v.done {
		return
	}
	if raw := strings.TrimSpace(ind.Raw); raw != "" && raw != ind.Value {
		v.typed(raw, ind.Type)
	}
}

func (v *verdict) typed(val string, t indicator.Type) {
	switch t {
	case indicator.IPv4, indicator.IPv6:
		s := subjects{value: val}
		if s.setAddr(val, true) {
			v.see(&s)
			return
		}
	case indicator.Domain:
		// A name ending in a number is an IPv4 address to a browser
		// ("127.0x1"), not a name: by shape.
		if d := strings.TrimRight(val, "."); isPlainName(d) && !endsInNumber(d) {
			s := subjects{value: val}
			s.setDomain(d)
			v.see(&s)
			return
		}
	case indicator.MD5, indicator.SHA1, indicator.SHA256:
		if len(val) == hashLen(t) && isHex(val) {
			s := subjects{value: val} // nothing in a hash names a host; patterns still apply
			v.see(&s)
			return
		}
	case indicator.Email:
		if d, ok := plainMailDomain(val); ok {
			s := subjects{value: val, hosts: [2]string{d}, mail: d}
			s.setDomain(d)
			v.see(&s)
			// The local part is judged too: "printer.local@x",
			// "10.0.0.1@x" name a host to whoever reads them.
			local := val[:strings.LastIndexByte(val, '@')]
			if isPlainName(local) {
				v.token(local)
			}
			v.pieces(local)
			return
		}
	case indicator.URL:
		// A comma or '|' is ordinary in a URL's path or query, and a
		// private address there is not where the URL leads: a value that
		// starts like a URL is free text only if it holds whitespace.
		if scheme, _, ok := cutScheme(val); ok && specialScheme(scheme) && !hasSpace(val) {
			v.token(val)
			return
		}
	}
	v.text(val)
}

// plainMailDomain returns the domain of local@domain when token would
// find nothing else in it: a canonical domain that is no number, and a
// local part without a character that could end a scheme, an authority or
// a token, or start an escape.
func plainMailDomain(v string) (string, bool) {
	i := strings.LastIndexByte(v, '@')
	if i <= 0 {
		return "", false
	}
	d := strings.TrimRight(v[i+1:], ".")
	if !isPlainName(d) || endsInNumber(d) {
		return "", false
	}
	for j := 0; j < i; j++ {
		c := v[j]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(".-_+=!$&'*^`{}~", c) >= 0) {
			return "", false
		}
	}
	return d, true
}

// text judges free text: the whole, then each whitespace-separated field,
// then each piece of a field cut at the other separators, all without the
// quotes and brackets prose puts around a token ("(10.0.0.1)",
// "<http://h/>").
func (v *verdict) text(t string) {
	v.token(t)
	if v.done {
		return
	}
	if hasSep(t) || hasWrap(t) {
		v.fields(t)
	}
	v.pieces(t)
	if !v.done && hasFormat(t) {
		// "print\u200ber.local": a zero-width or other format character
		// is invisible, and dropped by many a client and resolver. The
		// copy holds none, so this recurses once.
		v.text(strings.Map(dropFormat, t))
	}
}

// fields judges each whitespace-separated field of t and each piece of a
// field cut at isPunctSep, quotes and brackets trimmed.
func (v *verdict) fields(t string) {
	for rest := t; rest != "" && !v.done; {
		f := rest
		if i, n := sepIndex(rest, unicode.IsSpace); i >= 0 {
			f, rest = rest[:i], rest[i+n:]
		} else {
			rest = ""
		}
		if f = strings.Trim(f, wrappers); f == "" {
			continue
		}
		if f != t {
			v.token(f)
		}
		if i, _ := sepIndex(f, isPunctSep); i < 0 {
			continue
		}
		for rest := f; rest != "" && !v.done; {
			p := rest
			if i, n := sepIndex(rest, isPunctSep); i >= 0 {
				p, rest = rest[:i], rest[i+n:]
			} else {
				rest = ""
			}
			if p = strings.Trim(p, wrappers); p != "" {
				v.token(p)
			}
		}
	}
}

// maxPieces bounds the pieces pieces judges in one reading. A value cut
// into more is withheld by RuleTooManyPieces: what was not looked at may
// name an internal host, and no indicator is made of a thousand parts
// (indicator.MaxLen is 2048 bytes; only a forged value can reach it).
const maxPieces = 1024

// RuleTooManyPieces is reported for a value with more than maxPieces
// pieces (see pieces), unless a global rule matched first.
const RuleTooManyPieces = "never_send.limits[pieces]"

// pieces judges every piece of t between runes no host name or address
// can hold (see isHardSep): "“printer.local”", "x/10.0.0.1",
// "a:b:10.0.0.1", "printer.local@x", "10.0.0.1!". Both sides of every '@'
// and ':' are pieces; then, for IPv6, the pieces cut with ':' kept are
// judged as addresses ("fd00::1!"). A piece equal to t was judged
// already. It is linear in len(t) and judges at most maxPieces pieces.
func (v *verdict) pieces(t string) {
	n := 0
	colon := false
	for rest := t; rest != "" && !v.done; {
		p := rest
		if i, k := sepIndex(rest, isHardSep); i >= 0 {
			if rest[i] == ':' {
				colon = true
			}
			p, rest = rest[:i], rest[i+k:]
		} else {
			rest = ""
		}
		if p == "" || p == t {
			continue
		}
		if n++; n > maxPieces {
			v.tooMany()
			return
		}
		v.token(p)
	}
	if !colon {
		return
	}
	for rest := t; rest != "" && !v.done; {
		p := rest
		if i, k := sepIndex(rest, isHardSepV6); i >= 0 {
			p, rest = rest[:i], rest[i+k:]
		} else {
			rest = ""
		}
		if p == t || strings.IndexByte(p, ':') < 0 {
			continue
		}
		if n++; n > maxPieces {
			v.tooMany()
			return
		}
		s := subjects{hosts: [2]string{p}}
		if s.setAddr(p, false) {
			v.pending = p
			v.emit(&s)
		}
	}
}

// tooMany withholds a value pieces could not finish judging: with
// RuleTooManyPieces, as a global rule might have matched what was left.
func (v *verdict) tooMany() {
	if !v.done {
		v.rule, v.found, v.done = RuleTooManyPieces, true, true
	}
}

// isHardSep reports a rune no host name or IP address holds, once IDNA
// has mapped it: in ASCII anything but letters, digits, '-' and '.'
// (so '_', ':', '@', '/', '&', '!', '*', '[', ']', '~', '^', '$', quotes,
// controls); beyond ASCII anything but letters, marks and numbers
// (punctuation, symbols, separators, format and control characters, the
// replacement character of invalid UTF-8), the IDNA full stops aside.
func isHardSep(r rune) bool {
	if r < utf8.RuneSelf {
		c := byte(r)
		return !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.')
	}
	switch r {
	case '\u3002', '\uff0e', '\uff61':
		return false
	}
	return !unicode.IsLetter(r) && !unicode.IsMark(r) && !unicode.IsNumber(r)
}

// isHardSepV6 is isHardSep but for ':', which an IPv6 address holds.
func isHardSepV6(r rune) bool { return r != ':' && isHardSep(r) }

// hasFormat reports a format (Cf) character: zero-width spaces and
// joiners, U+180E, bidirectional controls, the soft hyphen.
func hasFormat(t string) bool {
	for i := 0; i < len(t); i++ {
		if t[i] >= utf8.RuneSelf {
			return strings.IndexFunc(t[i:], isFormat) >= 0
		}
	}
	return false
}

func isFormat(r rune) bool { return unicode.Is(unicode.Cf, r) }

func dropFormat(r rune) rune {
	if isFormat(r) {
		return -1
	}
	return r
}

// wrappers are what text trims from the ends of a token.
const wrappers = "\"'`()<>{}"

func hasWrap(t string) bool {
	return t != "" && (strings.IndexByte(wrappers, t[0]) >= 0 || strings.IndexByte(wrappers, t[len(t)-1]) >= 0)
}

// token judges one token by its shape: an address, a URL, or an
// authority-like string ("printer.local:631/x", "alice@corp.example").
func (v *verdict) token(t string) {
	if v.done {
		return
	}
	t = strings.TrimSpace(t)
	v.pending = t
	v.shape(t)
	if v.pending != "" {
		s := subjects{value: v.pending}
		v.pending = ""
		v.see(&s)
	}
}

func (v *verdict) shape(t string) {
	s := subjects{hosts: [2]string{t}}
	if s.setAddr(t, false) {
		v.emit(&s)
		return
	}
	if isPlainName(t) {
		// Only letters, digits, '-', '_' and '.': no scheme,
		// port, userinfo, escape or path to take apart (the common case).
		s.setDomain(strings.TrimRight(t, "."))
		v.emit(&s)
		if strings.IndexByte(t, '-') > 0 && strings.Trim(t, "0123456789.-xX") == "" {
			// A range: "10.0.0.1-10.0.0.9".
			for part := range strings.SplitSeq(t, "-") {
				v.token(part)
			}
		}
		return
	}
	if scheme, rest, ok := cutScheme(t); ok {
		switch {
		case specialScheme(scheme):
			// WHATWG "special authority ignore slashes": "http:h",
			// "http:/h" and "http:\\\h" all lead to h.
			v.authority(strings.TrimLeft(rest, `/\`), hostURL)
		case twoSlashes(rest):
			v.authority(rest[2:], hostURL)
		default:
			// "mailto:a@b", "printer.local:631", "smb:nas.lan": no
			// authority, but a name all the same.
			v.authority(t, hostText)
		}
		return
	}
	if twoSlashes(t) {
		// Scheme-relative ("//h/x", as a browser resolves it against an
		// http page) or a UNC path ("\\nas\share").
		v.authority(strings.TrimLeft(t, `/\`), hostURL)
		return
	}
	v.authority(t, hostText)
}

// Where a host was found: it decides whether a bare small number is an
// address (see setAddr) and whether '@' marks an e-mail.
type hostCtx uint8

const (
	hostText hostCtx = iota // a token of no particular shape
	hostMail                // an e-mail's domain
	hostURL                 // a URL's authority
)

// authority judges the host of a, which runs to the first '/', '\', '?'
// or '#' (WHATWG, special schemes) and, when that was a '\', also to the
// first '/', '?' or '#' (RFC 3986, where '\' is data).
func (v *verdict) authority(a string, ctx hostCtx) {
	end := authorityEnd(a, true)
	v.userHost(a[:end], ctx)
	if end < len(a) && a[end] == '\\' {
		v.userHost(a[:authorityEnd(a, false)], ctx)
	}
}

// authorityEnd is the index of the first '/', '?', '#' (or '\', when
// backslash) in a, else len(a). (strings.IndexAny builds its set on every
// call.)
func authorityEnd(a string, backslash bool) int {
	for i := 0; i < len(a); i++ {
		switch a[i] {
		case '/', '?', '#':
			return i
		case '\\':
			if backslash {
				return i
			}
		}
	}
	return len(a)
}

// userHost drops userinfo, up to the last '@'. In free text the '@' makes
// an e-mail address.
func (v *verdict) userHost(a string, ctx hostCtx) {
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		if ctx == hostText {
			ctx = hostMail
		}
		a = a[i+1:]
	}
	v.host(a, ctx)
}

// host judges a host with an optional port: "[v6]:port" or an address
// literal, "name:port", a bare IPv6 address. Of "a:b" whose b is not a
// port number, both sides are judged ("smb:nas.lan").
func (v *verdict) host(h string, ctx hostCtx) {
	if h == "" {
		return
	}
	if h[0] == '[' {
		if i := strings.IndexByte(h, ']'); i > 0 {
			v.literal(h[:i+1], h[1:i], ctx)
			return
		}
	}
	switch strings.Count(h, ":") {
	case 0:
		v.name(h, ctx)
	case 1:
		i := strings.IndexByte(h, ':')
		v.name(h[:i], ctx)
		if port := h[i+1:]; !allDigits(port) {
			v.name(port, ctx)
		}
	default:
		v.name(h, ctx) // a bare IPv6 address
		v.name(h[:strings.LastIndexByte(h, ':')], ctx)
	}
}

// literal judges a bracketed host: an IPv6 address in a URL, an RFC 5321
// address literal ("[10.0.0.1]", "[IPv6:fd00::1]") in an e-mail.
func (v *verdict) literal(h, in string, ctx hostCtx) {
	if len(in) >= 5 && strings.EqualFold(in[:5], "IPv6:") {
		in = in[5:]
	}
	s := subjects{hosts: [2]string{h}}
	if s.setAddr(in, true) {
		v.emit(&s)
		return
	}
	v.name(in, ctx) // percent-encoded, or a name in brackets
}

// name judges one host name or address as a resolver would see it:
// percent-decoded, IDNA-mapped, lower case, without trailing dots.
func (v *verdict) name(h string, ctx hostCtx) {
	if h == "" {
		return
	}
	n := h
	if strings.IndexByte(n, '%') >= 0 {
		n = percentDecode(n)
		if v.depth < 2 && n != h && strings.ContainsAny(n, "@/\\?#:[]") {
			// "8.8.8.8%40printer.local", "10.0.0.1%3a80": what was
			// hidden in the escapes is an authority of its own.
			v.depth++
			v.authority(n, ctx)
			v.depth--
		}
	}
	if i := strings.IndexByte(n, 0); i >= 0 {
		n = n[:i] // a C resolver reads a name only up to a NUL ("%00")
	}
	if ascii, tabs := scanHost(n); tabs {
		n = strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(n) // browsers drop them
		if !isASCII(n) {
			n = mapIDNA(n)
		}
	} else if !ascii {
		n = mapIDNA(n)
	}
	n = strings.TrimRight(n, ".") // case is folded where names are compared (lookupSuffix)
	s := subjects{hosts: [2]string{h}}
	if n != h {
		s.hosts[1] = n
	}
	if n == "" {
		v.emit(&s)
		return
	}
	if s.setAddr(n, ctx == hostURL) {
		v.emit(&s)
		return
	}
	s.setDomain(canonDomain(n))
	if ctx == hostMail {
		s.mail = s.domain
	}
	v.emit(&s)
}

// idnaMap is the UTS #46 lookup mapping browsers apply to hosts, with the
// indicator package's relaxations, so its output compares with the
// canonical suffixes of the rules.
var idnaMap = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.Transitional(false),
	idna.StrictDomainName(false),
	idna.CheckHyphens(false),
)

// mapIDNA maps a non-ASCII host. The profile returns its best mapping
// even with an error (a label it would refuse); failing that, the IDNA
// full stops at least become dots.
func mapIDNA(h string) string {
	if a, _ := idnaMap.ToASCII(h); a != "" {
		return a
	}
	return strings.NewReplacer("\u3002", ".", "\uff0e", ".", "\uff61", ".").Replace(h)
}

// percentDecode decodes %XX escapes until none is left (at most 4 rounds:
// a server or proxy may decode more than once); invalid escapes stay.
func percentDecode(s string) string {
	for range 4 {
		if strings.IndexByte(s, '%') < 0 {
			break
		}
		var b strings.Builder
		b.Grow(len(s))
		for i := 0; i < len(s); i++ {
			if s[i] == '%' && i+2 < len(s) && isHexDigit(s[i+1]) && isHexDigit(s[i+2]) {
				b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
				i += 2
				continue
			}
			b.WriteByte(s[i])
		}
		t := b.String()
		if t == s {
			break
		}
		s = t
	}
	return s
}

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

// cutScheme splits "scheme:rest" (RFC 3986 scheme syntax).
func cutScheme(t string) (scheme, rest string, ok bool) {
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return t[:i], t[i+1:], true
		default:
			return "", "", false
		}
	}
	return "", "", false
}

// specialScheme reports the WHATWG special schemes whose URLs always have
// a host (file aside, whose "//host" twoSlashes covers).
func specialScheme(s string) bool {
	for _, sp := range [...]string{"http", "https", "ftp", "ws", "wss"} {
		if strings.EqualFold(s, sp) {
			return true
		}
	}
	return false
}

func twoSlashes(s string) bool {
	return len(s) >= 2 && (s[0] == '/' || s[0] == '\\') && (s[1] == '/' || s[1] == '\\')
}

// isPunctSep reports the characters besides whitespace that free text
// is cut at: ',', ';', '|' and '=' ("ip=10.0.0.1"), and their full-width
// and ideographic forms.
func isPunctSep(r rune) bool {
	switch r {
	case ',', ';', '|', '=', '\uff0c', '\uff1b', '\uff5c', '\uff1d', '\u3001', '\ufe50':
		return true
	}
	return false
}

func isSep(r rune) bool { return isPunctSep(r) || unicode.IsSpace(r) }

// sepIndex finds the first rune of t that sep reports: its index and
// length, or -1.
func sepIndex(t string, sep func(rune) bool) (int, int) {
	for i := 0; i < len(t); {
		c := t[i]
		if c < utf8.RuneSelf {
			if sep(rune(c)) {
				return i, 1
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(t[i:])
		if sep(r) {
			return i, n
		}
		i += n
	}
	return -1, 0
}

func hasSep(t string) bool {
	i, _ := sepIndex(t, isSep)
	return i >= 0
}

func hasSpace(t string) bool { return strings.IndexFunc(t, unicode.IsSpace) >= 0 }

// canonDomain brings a name to the indicator package's domain form, but
// for ASCII case, which lookupSuffix folds. The values Parse makes already
// are (the fast path, no copy), and so is a plain ASCII name; anything
// else goes through Parse itself, and a name Parse refuses is still
// compared: refusing to look is not an option for a rule that withholds.
func canonDomain(d string) string {
	d = strings.TrimRight(d, ".")
	if isPlainName(d) {
		return d
	}
	if ind, err := indicator.Parse(d, indicator.Domain); err == nil {
		return ind.Value
	}
	return d
}

// isPlainName reports a name made only of what normalised domains hold,
// in either case: letters, digits, '-', '_' and '.'.
func isPlainName(d string) bool {
	if d == "" {
		return false
	}
	for i := 0; i < len(d); i++ {
		c := d[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func hashLen(t indicator.Type) int {
	switch t {
	case indicator.MD5:
		return 32
	case indicator.SHA1:
		return 40
	}
	return 64
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHexDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// scanHost reports whether h is all ASCII and whether it holds a tab, CR
// or LF, in one pass.
func scanHost(h string) (ascii, tabs bool) {
	ascii = true
	for i := 0; i < len(h); i++ {
		switch c := h[i]; {
		case c >= utf8.RuneSelf:
			ascii = false
		case c == '\t' || c == '\n' || c == '\r':
			tabs = true
		}
	}
	return ascii, tabs
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
