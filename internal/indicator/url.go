package indicator

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// defaultPorts are dropped from URLs: "http://x.example:80/" and
// "http://x.example/" are one resource.
var defaultPorts = map[string]string{"http": "80", "https": "443", "ftp": "21"}

// normURL accepts an absolute http, https or ftp URL with a host and
// normalises what carries no meaning: scheme and host case (the host goes
// through the IP or domain rules, so Unicode hosts become punycode), a
// default port and an empty path (which RFC 3986 §6.2.3 equates with "/").
// Path, query and fragment keep their case and encoding: servers may treat
// them case-sensitively, and dot segments or odd escapes can be the very
// thing an analyst looks for. The fragment never reaches the server, but
// it is kept: a phishing kit's script reads it, and it often carries the
// victim ("#alice@example.com"), so two URLs that differ only there are
// two indicators. An empty fragment ("…/#") is dropped.
func normURL(s string) (string, error) {
	// The fragment is cut off first, as a browser does at the first '#',
	// so net/url neither unescapes it nor refuses an odd escape in it.
	s, frag, _ := strings.Cut(s, "#")
	u, err := url.Parse(s)
	if err != nil {
		// url's error repeats the whole input; say only what is wrong.
		return "", errors.New("does not parse as a URL")
	}
	if _, ok := defaultPorts[u.Scheme]; !ok {
		return "", errors.New("want the scheme http, https or ftp")
	}
	if u.Opaque != "" || u.Host == "" {
		return "", errors.New("has no host")
	}
	host, err := normURLHost(u)
	if err != nil {
		return "", err
	}
	port := u.Port()
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "", errors.New("port is not between 1 and 65535")
		}
		port = strconv.Itoa(n) // "080" is port 80
	}
	if port != "" && port != defaultPorts[u.Scheme] {
		host += ":" + port
	}
	u.Host = host
	u.RawQuery = escapeQuery(u.RawQuery)
	if u.Path == "" {
		u.Path, u.RawPath = "/", ""
	}
	if frag == "" {
		return u.String(), nil
	}
	return u.String() + "#" + escapeURLPart(frag, fragmentEscapes), nil
}

// escapeQuery percent-encodes what a browser encodes in the query of an
// http(s) or ftp URL — the WHATWG "special-query percent-encode set": space,
// '"', '#', '<', '>', the apostrophe and non-ASCII bytes (controls never get
// here). net/url keeps the raw query as given, so without this "?a b" and
// "?a%20b" — one request on the wire — would be two indicators. Existing
// escapes are left as they are.
func escapeQuery(q string) string { return escapeURLPart(q, queryEscapes) }

// escapeURLPart percent-encodes the bytes of p that esc selects and every
// non-ASCII byte, leaving existing escapes as they are (so the result is
// a fixed point).
func escapeURLPart(p string, esc func(byte) bool) string {
	if strings.IndexFunc(p, func(r rune) bool { return r > 0x7e || esc(byte(r)) }) < 0 {
		return p
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(p) + 16)
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c > 0x7e || esc(c) {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// queryEscapes reports the ASCII characters escapeQuery encodes.
func queryEscapes(c byte) bool {
	return c <= ' ' || strings.IndexByte("\"#<>'", c) >= 0
}

// fragmentEscapes reports the ASCII characters a browser encodes in a
// fragment, the WHATWG "fragment percent-encode set": space, '"', '<',
// '>' and '`'. A '#' inside the fragment stays, as browsers keep it.
func fragmentEscapes(c byte) bool {
	return c <= ' ' || strings.IndexByte("\"<>`", c) >= 0
}

// normURLHost returns the canonical host: a bracketed IPv6 address, an IPv4
// address or an ASCII domain name.
func normURLHost(u *url.URL) (string, error) {
	h := u.Hostname()
	if strings.HasPrefix(u.Host, "[") {
		v, err := normIPv6(h)
		if err != nil {
			return "", fmt.Errorf("host: %w", err)
		}
		return "[" + v + "]", nil
	}
	if looksLikeIPv4(h) {
		v, err := normIPv4(h)
		if err != nil {
			return "", fmt.Errorf("host: %w", err)
		}
		return v, nil
	}
	v, err := normDomain(h)
	if err != nil {
		return "", fmt.Errorf("host: %w", err)
	}
	return v, nil
}

// hasURLScheme reports a value that starts with one of our URL schemes and
// a colon: whatever follows, the sender meant a URL.
func hasURLScheme(s string) bool {
	i := strings.IndexByte(s, ':')
	if i < 0 {
		return false
	}
	_, ok := defaultPorts[strings.ToLower(s[:i])]
	return ok
}
