package minimise

import (
	"strings"

	"golang.org/x/net/idna"
)

// Hosts, read the way a browser reads a URL: what a vendor handed the URL
// would connect to.

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
