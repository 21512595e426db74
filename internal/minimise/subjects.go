package minimise

import (
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

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
