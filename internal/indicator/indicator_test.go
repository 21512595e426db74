package indicator

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// parseCase is one row of the Parse table. Exactly one of wantErr and
// wantType is set.
type parseCase struct {
	name      string
	raw       string
	hint      Type
	wantType  Type
	wantValue string
	wantPort  uint16 // the port of an address written with one
	wantWild  bool   // a wildcard domain
	wantErr   error
	wantMsg   string // exact Error() text, when set
}

func runParseCases(t *testing.T, cases []parseCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tc.raw, tc.hint)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				if tc.wantMsg != "" {
					require.Equal(t, tc.wantMsg, err.Error())
				}
				require.Equal(t, Indicator{}, got)
				return
			}
			require.NoError(t, err)
			require.Equal(t, Indicator{Raw: tc.raw, Value: tc.wantValue, Type: tc.wantType,
				Port: tc.wantPort, Wildcard: tc.wantWild}, got)
		})
	}
}

func TestParseInputChecks(t *testing.T) {
	t.Parallel()
	runParseCases(t, []parseCase{
		{name: "empty", raw: "", wantErr: ErrEmpty, wantMsg: "is empty"},
		{name: "only whitespace", raw: " \t\r\n ", wantErr: ErrEmpty, wantMsg: "is empty"},
		{name: "exactly MaxLen", raw: strings.Repeat("a", MaxLen), wantType: Username, wantValue: strings.Repeat("a", MaxLen)},
		{name: "over MaxLen", raw: strings.Repeat("a", MaxLen+1), wantErr: ErrTooLong,
			wantMsg: "is too long: 2049 bytes, limit is 2048"},
		{name: "over MaxLen counts raw bytes including whitespace", raw: " " + strings.Repeat("a", MaxLen),
			wantErr: ErrTooLong},
		{name: "NUL", raw: "evil\x00.com", wantErr: ErrControlChar, wantMsg: "contains a control character at byte 4"},
		{name: "offset counts leading whitespace", raw: "  evil.com\nx", wantErr: ErrControlChar,
			wantMsg: "contains a control character at byte 10"},
		{name: "CR inside", raw: "a\rb", wantErr: ErrControlChar},
		{name: "LF inside", raw: "a\nb", wantErr: ErrControlChar},
		{name: "tab inside", raw: "a\tb", wantErr: ErrControlChar},
		{name: "DEL", raw: "a\x7fb", wantErr: ErrControlChar},
		{name: "C1 control", raw: "a\u0085b", wantErr: ErrControlChar},
		{name: "ESC for terminal injection", raw: "\x1b[31mred", wantErr: ErrControlChar,
			wantMsg: "contains a control character at byte 0"},
		{name: "bidi override", raw: "abc\u202etxt.exe", wantErr: ErrControlChar, wantMsg: "contains a control character at byte 3"},
		{name: "line separator", raw: "a\u2028b", wantErr: ErrControlChar},
		{name: "invalid UTF-8", raw: "ab\xffcd", wantErr: ErrInvalidUTF8, wantMsg: "is not valid UTF-8 at byte 2"},
		{name: "truncated UTF-8", raw: "é"[:1], wantErr: ErrInvalidUTF8},
		{name: "surrounding newline is trimmed", raw: "example.com\r\n", wantType: Domain, wantValue: "example.com"},
		{name: "surrounding tabs are trimmed", raw: "\t1.2.3.4\t", wantType: IPv4, wantValue: "1.2.3.4"},
		{name: "unknown hint", raw: "x", hint: Type("ip"), wantErr: ErrUnknownType},
		{name: "zero hint is auto", raw: "1.2.3.4", hint: "", wantType: IPv4, wantValue: "1.2.3.4"},
	})
}

func TestParseAuto(t *testing.T) {
	t.Parallel()
	runParseCases(t, []parseCase{
		// ipv4
		{name: "ipv4", raw: "192.0.2.1", wantType: IPv4, wantValue: "192.0.2.1"},
		{name: "ipv4 defanged", raw: "192[.]0[.]2[.]1", wantType: IPv4, wantValue: "192.0.2.1"},
		{name: "ipv4 leading zero", raw: "010.1.1.1", wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid ipv4 address: leading zeros are ambiguous (octal or decimal); write each octet without them"},
		{name: "ipv4 octet over 255", raw: "256.1.1.1", wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid ipv4 address: want four decimal octets 0-255 separated by dots"},
		{name: "ipv4 three octets", raw: "1.2.3", wantErr: ErrTypeMismatch},
		// ipv6
		{name: "ipv6 compressed lowercase", raw: "2001:DB8:0:0:0:0:0:1", wantType: IPv6, wantValue: "2001:db8::1"},
		{name: "ipv6 bracketed", raw: "[2001:db8::1]", wantType: IPv6, wantValue: "2001:db8::1"},
		{name: "ipv6 loopback", raw: "::1", wantType: IPv6, wantValue: "::1"},
		{name: "ipv4-mapped ipv6 stays ipv6", raw: "::FFFF:192.0.2.1", wantType: IPv6, wantValue: "::ffff:192.0.2.1"},
		{name: "ipv6 zone", raw: "fe80::1%eth0", wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid ipv6 address: zones (%name) are not accepted: they only mean something on one host"},
		// url
		{name: "url", raw: "https://example.com/path?q=1", wantType: URL, wantValue: "https://example.com/path?q=1"},
		{name: "url normalised", raw: "HTTPS://WWW.Example.COM:443/Login.PHP?User=Bob#top", wantType: URL,
			wantValue: "https://www.example.com/Login.PHP?User=Bob#top"},
		{name: "url non-default port kept", raw: "http://example.com:8080", wantType: URL, wantValue: "http://example.com:8080/"},
		{name: "url http default port", raw: "http://example.com:80/a", wantType: URL, wantValue: "http://example.com/a"},
		{name: "url ftp default port", raw: "ftp://files.example.com:21/a.zip", wantType: URL, wantValue: "ftp://files.example.com/a.zip"},
		{name: "url port with leading zero", raw: "http://example.com:0080/", wantType: URL, wantValue: "http://example.com/"},
		{name: "url hxxp", raw: "hxxp://evil[.]example[.]com/a", wantType: URL, wantValue: "http://evil.example.com/a"},
		{name: "url hXXps", raw: "hXXps://evil(.)com", wantType: URL, wantValue: "https://evil.com/"},
		{name: "url HXXP bracketed separator", raw: "HXXP[://]evil{.}com", wantType: URL, wantValue: "http://evil.com/"},
		{name: "url hxxp [:]", raw: "hxxps[:]//evil[dot]com/", wantType: URL, wantValue: "https://evil.com/"},
		{name: "url ipv4 host", raw: "http://192.0.2.1/x", wantType: URL, wantValue: "http://192.0.2.1/x"},
		{name: "url ipv6 host", raw: "http://[2001:DB8::1]:8443/", wantType: URL, wantValue: "http://[2001:db8::1]:8443/"},
		{name: "url unicode host", raw: "https://Bücher.example/Straße", wantType: URL,
			wantValue: "https://xn--bcher-kva.example/Stra%C3%9Fe"},
		{name: "url keeps userinfo", raw: "http://user@example.com/", wantType: URL, wantValue: "http://user@example.com/"},
		{name: "url query escaped as browsers do", raw: "http://example.com/?q=a b&x=<ä>'", wantType: URL,
			wantValue: "http://example.com/?q=a%20b&x=%3C%C3%A4%3E%27"},
		{name: "url query escapes kept", raw: "http://example.com/?q=a%20b&r=%zz", wantType: URL,
			wantValue: "http://example.com/?q=a%20b&r=%zz"},
		{name: "url keeps dot segments", raw: "http://example.com/a/../b", wantType: URL, wantValue: "http://example.com/a/../b"},
		{name: "url without host", raw: "http:///path", wantErr: ErrTypeMismatch, wantMsg: "value is not a valid url: has no host"},
		{name: "url opaque", raw: "http:example.com", wantErr: ErrTypeMismatch},
		{name: "url single-label host", raw: "http://localhost/", wantErr: ErrTypeMismatch},
		{name: "url bad port", raw: "http://example.com:70000/", wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid url: port is not between 1 and 65535"},
		{name: "url ipv6 zone host", raw: "http://[fe80::1%25eth0]/", wantErr: ErrTypeMismatch},
		{name: "url bad ipv4 host", raw: "http://010.0.0.1/", wantErr: ErrTypeMismatch},
		{name: "url without scheme", raw: "evil.com/login.php", wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid url: the scheme is missing; add http:// or https://"},
		{name: "url without scheme ipv4 host", raw: "192.0.2.1:8080/x", wantErr: ErrTypeMismatch},
		{name: "other scheme is a username", raw: "javascript:alert(1)", wantType: Username, wantValue: "javascript:alert(1)"},
		// email
		{name: "email", raw: "alice@example.com", wantType: Email, wantValue: "alice@example.com"},
		{name: "email keeps local case, lowers domain", raw: "Alice.Smith@EXAMPLE.COM", wantType: Email,
			wantValue: "Alice.Smith@example.com"},
		{name: "email [at]", raw: "alice[at]example[.]com", wantType: Email, wantValue: "alice@example.com"},
		{name: "email (@)", raw: "alice(@)example(dot)com", wantType: Email, wantValue: "alice@example.com"},
		{name: "email [@] upper DOT", raw: "alice[@]example[DOT]com", wantType: Email, wantValue: "alice@example.com"},
		{name: "email plus tag", raw: "a+tag@example.org", wantType: Email, wantValue: "a+tag@example.org"},
		{name: "email unicode domain", raw: "x@bücher.example", wantType: Email, wantValue: "x@xn--bcher-kva.example"},
		{name: "email unknown tld still email", raw: "x@host.internal", wantType: Email, wantValue: "x@host.internal"},
		{name: "handle with bad domain is a username", raw: "alice@localhost", wantType: Username, wantValue: "alice@localhost"},
		// hashes
		{name: "md5", raw: "D41D8CD98F00B204E9800998ECF8427E", wantType: MD5, wantValue: "d41d8cd98f00b204e9800998ecf8427e"},
		{name: "sha1", raw: "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709", wantType: SHA1,
			wantValue: "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
		{name: "sha256", raw: strings.Repeat("aB", 32), wantType: SHA256, wantValue: strings.Repeat("ab", 32)},
		{name: "33 hex is a username", raw: strings.Repeat("a", 33), wantType: Username, wantValue: strings.Repeat("a", 33)},
		// phone
		{name: "phone e164", raw: "+14155550100", wantType: Phone, wantValue: "+14155550100"},
		{name: "phone separators", raw: "+1 (415) 555-0100", wantType: Phone, wantValue: "+14155550100"},
		{name: "phone dots", raw: "+33.1.23.45.67.89", wantType: Phone, wantValue: "+33123456789"},
		{name: "phone trunk (0)", raw: "+44 (0)20 7946 0958", wantType: Phone, wantValue: "+442079460958"},
		{name: "phone 15 digits", raw: "+123456789012345", wantType: Phone, wantValue: "+123456789012345"},
		{name: "phone 16 digits", raw: "+1234567890123456", wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid phone number: want 8 to 15 digits after the +, got 16"},
		{name: "phone too short", raw: "+1234567", wantErr: ErrTypeMismatch},
		{name: "phone country code 0", raw: "+0123456789", wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid phone number: country codes never start with 0"},
		{name: "national number is a username", raw: "4155550100", wantType: Username, wantValue: "4155550100"},
		// domain
		{name: "domain", raw: "example.com", wantType: Domain, wantValue: "example.com"},
		{name: "domain upper", raw: "WWW.EXAMPLE.CO.UK", wantType: Domain, wantValue: "www.example.co.uk"},
		{name: "domain trailing root dot", raw: "example.com.", wantType: Domain, wantValue: "example.com"},
		{name: "domain (.)", raw: "evil(.)example(.)net", wantType: Domain, wantValue: "evil.example.net"},
		{name: "domain nested brackets", raw: "evil[[.]]com", wantType: Domain, wantValue: "evil.com"},
		{name: "domain punycode", raw: "xn--bcher-kva.example", wantType: Username, wantValue: "xn--bcher-kva.example"},
		{name: "domain punycode known tld", raw: "XN--BCHER-KVA.com", wantType: Domain, wantValue: "xn--bcher-kva.com"},
		{name: "domain unicode homograph", raw: "аpple.com", wantType: Domain, wantValue: "xn--pple-43d.com"},
		{name: "domain unicode tld", raw: "пример.рф", wantType: Domain, wantValue: "xn--e1afmkfd.xn--p1ai"},
		{name: "domain ideographic dot", raw: "example\u3002com", wantType: Domain, wantValue: "example.com"},
		{name: "domain underscore", raw: "_dmarc.example.com", wantType: Domain, wantValue: "_dmarc.example.com"},
		{name: "domain triple hyphen", raw: "r3---sn-abc.googlevideo.com", wantType: Domain, wantValue: "r3---sn-abc.googlevideo.com"},
		{name: "domain onion", raw: "duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion", wantType: Domain,
			wantValue: "duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion"},
		{name: "dotted username with unknown tld", raw: "jane.doe", wantType: Username, wantValue: "jane.doe"},
		{name: "word dot is not refanged", raw: "evildotcom", wantType: Username, wantValue: "evildotcom"},
		{name: "label too long", raw: strings.Repeat("a", 64) + ".com", wantType: Username, wantValue: strings.Repeat("a", 64) + ".com"},
		// username
		{name: "username", raw: "alice_99", wantType: Username, wantValue: "alice_99"},
		{name: "username keeps case drops @", raw: "@AliceInChains", wantType: Username, wantValue: "AliceInChains"},
		{name: "username drops every leading @", raw: "@@bob", wantType: Username, wantValue: "bob"},
		{name: "username unicode", raw: "Željko", wantType: Username, wantValue: "Željko"},
		{name: "fediverse handle", raw: "@alice@mastodon.social", wantType: Username, wantValue: "alice@mastodon.social"},
		{name: "username hxxp word kept", raw: "hxxpster", wantType: Username, wantValue: "hxxpster"},
		{name: "username whitespace", raw: "john doe", wantErr: ErrTypeMismatch, wantMsg: "value is not a valid username: contains whitespace"},
		{name: "username only @", raw: "@", wantErr: ErrTypeMismatch},
	})
}

func TestParseHint(t *testing.T) {
	t.Parallel()
	runParseCases(t, []parseCase{
		{name: "ipv4 ok", raw: " 192.0.2.1 ", hint: IPv4, wantType: IPv4, wantValue: "192.0.2.1"},
		{name: "ipv4 given ipv6", raw: "::1", hint: IPv4, wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid ipv4 address: want four decimal octets 0-255 separated by dots"},
		{name: "ipv4 given mapped", raw: "::ffff:1.2.3.4", hint: IPv4, wantErr: ErrTypeMismatch},
		{name: "ipv6 ok", raw: "[::FFFF:1.2.3.4]", hint: IPv6, wantType: IPv6, wantValue: "::ffff:1.2.3.4"},
		{name: "ipv6 given ipv4", raw: "1.2.3.4", hint: IPv6, wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid ipv6 address: want an IPv6 address such as 2001:db8::1"},
		{name: "domain unknown tld ok with hint", raw: "Jane.Doe", hint: Domain, wantType: Domain, wantValue: "jane.doe"},
		{name: "domain single label", raw: "localhost", hint: Domain, wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid domain name: want at least two labels separated by a dot"},
		{name: "domain numeric tld", raw: "example.123", hint: Domain, wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid domain name: the top-level label is all-numeric"},
		{name: "domain empty label", raw: "a..com", hint: Domain, wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid domain name: label 2 is empty"},
		{name: "domain label 64", raw: strings.Repeat("a", 64) + ".com", hint: Domain, wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid domain name: label 1 is longer than 63 bytes"},
		{name: "domain label 63", raw: strings.Repeat("a", 63) + ".com", hint: Domain, wantType: Domain,
			wantValue: strings.Repeat("a", 63) + ".com"},
		{name: "domain too long", raw: strings.Repeat(strings.Repeat("a", 63)+".", 4) + "com", hint: Domain,
			wantErr: ErrTypeMismatch, wantMsg: "value is not a valid domain name: longer than 253 bytes"},
		{name: "domain leading hyphen", raw: "-evil.com", hint: Domain, wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid domain name: label 1 starts or ends with '-'"},
		{name: "domain bad char", raw: "ev!l.com", hint: Domain, wantErr: ErrTypeMismatch},
		{name: "domain bad punycode", raw: "xn--abc.com", hint: Domain, wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid domain name: not a valid internationalised domain name (IDNA)"},
		{name: "domain underscore tld", raw: "example.c_m", hint: Domain, wantErr: ErrTypeMismatch},
		{name: "domain given url", raw: "http://example.com", hint: Domain, wantErr: ErrTypeMismatch},
		{name: "url ok", raw: "hxxp://x[.]example", hint: URL, wantType: URL, wantValue: "http://x.example/"},
		{name: "url scheme not allowed", raw: "gopher://example.com/", hint: URL, wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid url: want the scheme http, https or ftp"},
		{name: "url given domain", raw: "example.com", hint: URL, wantErr: ErrTypeMismatch},
		{name: "url unparseable", raw: "http://[::1/", hint: URL, wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid url: does not parse as a URL"},
		{name: "email ok", raw: "Bob[at]Example[.]ORG", hint: Email, wantType: Email, wantValue: "Bob@example.org"},
		{name: "email no at", raw: "bob.example.org", hint: Email, wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid email address: want local-part@domain"},
		{name: "email empty local", raw: "@example.org", hint: Email, wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid email address: local part is empty"},
		{name: "email double dot", raw: "a..b@example.org", hint: Email, wantErr: ErrTypeMismatch},
		{name: "email quoted local", raw: `"a b"@example.org`, hint: Email, wantErr: ErrTypeMismatch},
		{name: "email bad domain", raw: "a@localhost", hint: Email, wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid email address: domain: want at least two labels separated by a dot"},
		{name: "email local too long", raw: strings.Repeat("a", 65) + "@example.org", hint: Email, wantErr: ErrTypeMismatch},
		{name: "md5 ok", raw: strings.Repeat("F", 32), hint: MD5, wantType: MD5, wantValue: strings.Repeat("f", 32)},
		{name: "md5 given sha1", raw: strings.Repeat("f", 40), hint: MD5, wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid md5 hash: want 32 hexadecimal digits, got 40"},
		{name: "sha1 non-hex", raw: strings.Repeat("g", 40), hint: SHA1, wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid sha1 hash: want 40 hexadecimal digits, found a non-hex character"},
		{name: "sha256 ok", raw: strings.Repeat("0", 64), hint: SHA256, wantType: SHA256, wantValue: strings.Repeat("0", 64)},
		{name: "phone ok", raw: "+49 30 1234 5678", hint: Phone, wantType: Phone, wantValue: "+493012345678"},
		{name: "phone without plus", raw: "030 1234 5678", hint: Phone, wantErr: ErrTypeMismatch,
			wantMsg: "value is not a valid phone number: want + and the country code (E.164)"},
		{name: "phone letters", raw: "+1 800 FLOWERS", hint: Phone, wantErr: ErrTypeMismatch},
		{name: "username accepts what auto would call an ip", raw: "@1.2.3.4", hint: Username, wantType: Username, wantValue: "1.2.3.4"},
		{name: "username refangs", raw: "a[.]b", hint: Username, wantType: Username, wantValue: "a.b"},
		{name: "username is a fixed point of strip and refang", raw: "@hxxp:x", hint: Username, wantType: Username, wantValue: "http:x"},
		{name: "username nbsp is whitespace", raw: "a\u00a0b", hint: Username, wantErr: ErrTypeMismatch},
		{name: "hint case is not normalised by Parse", raw: "1.2.3.4", hint: Type("IPv4"), wantErr: ErrUnknownType},
	})
}

func TestParseType(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in      string
		want    Type
		wantErr bool
	}{
		{in: "", want: Auto},
		{in: "auto", want: Auto},
		{in: "AUTO", want: Auto},
		{in: "ipv4", want: IPv4},
		{in: "IPv4", want: IPv4},
		{in: "ipv6", want: IPv6},
		{in: "domain", want: Domain},
		{in: "url", want: URL},
		{in: "email", want: Email},
		{in: "md5", want: MD5},
		{in: "sha1", want: SHA1},
		{in: "sha256", want: SHA256},
		{in: "phone", want: Phone},
		{in: "username", want: Username},
		{in: "ip", wantErr: true},
		{in: " ipv4", wantErr: true},
		{in: "sha512", want: SHA512},
		{in: "CIDR", want: CIDR},
		{in: "JA3", want: JA3},
		{in: "sha384", wantErr: true},
		{in: "hash", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseType(tc.in)
			if tc.wantErr {
				require.ErrorIs(t, err, ErrUnknownType)
				require.Equal(t, Type(""), got)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseTypeErrorMessage(t *testing.T) {
	t.Parallel()
	_, bogus := ParseType("bogus")
	require.EqualError(t, bogus, `unknown indicator type "bogus"; want one of auto, ipv4, ipv6, cidr, url, email, md5, sha1, sha256, sha512, tlsh, eth, cve, asn, ssdeep, btc, ja4, phone, domain, ja3, username`)

	// A hostile type name is quoted and cut short, never echoed whole.
	_, err := ParseType(strings.Repeat("x", 5000) + "\n")
	require.ErrorIs(t, err, ErrUnknownType)
	require.Less(t, len(err.Error()), len(bogus.Error())+maxTypeEcho+8) // quotes and "…"
	require.NotContains(t, err.Error(), "\n")
}

// Every type ParseType accepts is one Types lists, and Parse accepts each as
// a hint; Types never includes Auto.
func TestTypesRoundTrip(t *testing.T) {
	t.Parallel()
	for _, typ := range Types() {
		require.NotEqual(t, Auto, typ)
		got, err := ParseType(string(typ))
		require.NoError(t, err)
		require.Equal(t, typ, got)
		_, err = Parse("x", typ)
		require.False(t, errors.Is(err, ErrUnknownType), "type %s", typ)
	}
}

// Errors must not leak the indicator: the gateway logs them, and indicator
// values are logged only when the operator opts in.
func TestErrorsDoNotEchoValue(t *testing.T) {
	t.Parallel()
	const secret = "zq7secretmarker"
	inputs := []struct {
		raw  string
		hint Type
	}{
		{"http://" + secret + "/", URL},
		{"http://[" + secret + "/", URL},
		{secret + "@localhost", Email},
		{secret + ".c_m", Domain},
		{"xn--" + secret + ".com", Domain},
		{"+1 " + secret, Phone},
		{secret, MD5},
		{secret, IPv4},
		{secret + " x", Username},
		{secret + "\x00", Auto},
		{secret + "\xff", Auto},
	}
	for _, in := range inputs {
		_, err := Parse(in.raw, in.hint)
		require.Error(t, err, "%q", in.raw)
		require.NotContains(t, err.Error(), secret)
	}
}

func TestRefang(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"evil[.]com":         "evil.com",
		"evil(.)com":         "evil.com",
		"evil{.}com":         "evil.com",
		"evil[dot]com":       "evil.com",
		"evil(DOT)com":       "evil.com",
		"a[@]b":              "a@b",
		"a(@)b":              "a@b",
		"a[at]b":             "a@b",
		"a[AT]b":             "a@b",
		"h[:]80":             "h:80",
		"http[://]x":         "http://x",
		"hxxp://x":           "http://x",
		"hXXps://x":          "https://x",
		"HXXPS[:]//x":        "https://x",
		"evildotcom":         "evildotcom",
		"meet at noon":       "meet at noon",
		"[.)":                "[.)",
		"a[[.]]b":            "a.b",
		"[[[[.]]]]":          ".",
		"x hxxp://y":         "x hxxp://y",
		"hxxpster":           "hxxpster",
		"[":                  "[",
		"[2001:db8::1]":      "[2001:db8::1]",
		"http://[::1]:80/[x": "http://[::1]:80/[x",
	}
	for in, want := range cases {
		t.Run(in, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, want, refang(in))
		})
	}
}
