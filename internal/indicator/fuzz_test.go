package indicator

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// fuzzHints maps the fuzzer's hint byte to a hint: Auto and every type.
var fuzzHints = append([]Type{Auto}, Types()...)

// FuzzParse checks the properties every caller relies on: Parse never
// panics; every failure wraps one of the sentinels; every success has a
// non-empty, valid UTF-8, control-free Value, a concrete Type (the hint's,
// when one was given), and is a fixed point — parsing Value again as Type
// gives the same Value and Type, so the cache and audit see one spelling;
// a port or a wildcard is only ever set on an address or a domain, and a
// wildcard never leaves its '*' in a domain.
func FuzzParse(f *testing.F) {
	seeds := []string{
		"", " ", "1.2.3.4", "010.1.1.1", "256.0.0.1", "1.2.3", "10.0.0.0/8",
		"2001:db8::1", "[2001:DB8::1]", "fe80::1%eth0", "::ffff:1.2.3.4",
		"https://Example.com:443/A?b=C#d", "hxxp://evil[.]com", "hXXps[://]evil(.)com/x",
		"http://[::1]:8080/", "http://аpple.com/ä b", "ftp://x.example:21", "http:x", "evil.com/login",
		"alice@example.com", "Alice[at]Example[dot]com", "@alice@mastodon.social",
		"d41d8cd98f00b204e9800998ecf8427e", strings.Repeat("A", 40), strings.Repeat("f", 64),
		"+1 (415) 555-0100", "+44 (0)20 7946 0958", "+0123", "example.com.", "xn--bcher-kva.com",
		"пример.рф", "r3---sn-abc.googlevideo.com", "_dmarc.example.com", "jane.doe",
		"@@bob", "@hxxp:x", "a[[.]]b", "a\x00b", "a\tb", "\xff", "abc\u202e", strings.Repeat("a", MaxLen+1),
		// indicator breadth: new types, host forms and defanged spellings
		"10.1.2.3/8", "2001:DB8::1/64", "010.0.0.0/8", "AS13335", "asn4294967296", "AS1.10", "CVE-2024-3094",
		"cve-2024-01234", sha512Hex, "T1" + tlshHex, tlshHex, ssdeepSig, "3:30:45", "5:abc:def", ja4Print, ja3Print,
		btcP2PKH, btcP2SH, btcP2WPKH, btcP2TR, "Bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", ethEIP55,
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", "1.2.3.4:443", "[2001:db8::1]:443", "evil.com:8080",
		"1.2.3.4:0", "*.example.com", ".example.com", "*.example.com:443", "example [.] com", "alice [at] x [.] com",
		"192.168 . 1 . 1", `evil\.com`, `a\\.b`, "h**ps://evil[.]com[/]x#victim@corp.example", "fxp://x[.]example",
		"http://x.example/#a b%zz", "http://x.example/#", "the quick. brown fox", "v2.0.1", "setup.exe",
	}
	for i, s := range seeds {
		f.Add(s, uint8(i))
	}
	f.Fuzz(func(t *testing.T, raw string, h uint8) {
		hint := fuzzHints[int(h)%len(fuzzHints)]
		got, err := Parse(raw, hint)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("Parse(%q, %s) error %q wraps no sentinel", raw, hint, err)
			}
			return
		}
		checkIndicator(t, raw, hint, got)
		again, err := Parse(got.Value, got.Type)
		if err != nil {
			t.Fatalf("Parse(%q, %s) = %q, which does not parse again: %v", raw, hint, got.Value, err)
		}
		if again.Value != got.Value || again.Type != got.Type {
			t.Fatalf("Parse(%q, %s) = %q (%s), but that parses to %q (%s)",
				raw, hint, got.Value, got.Type, again.Value, again.Type)
		}
	})
}

func checkIndicator(t *testing.T, raw string, hint Type, got Indicator) {
	t.Helper()
	switch {
	case got.Raw != raw:
		t.Fatalf("Raw = %q, want %q", got.Raw, raw)
	case got.Value == "":
		t.Fatalf("Parse(%q, %s): empty Value", raw, hint)
	case !utf8.ValidString(got.Value):
		t.Fatalf("Parse(%q, %s): Value %q is not valid UTF-8", raw, hint, got.Value)
	case strings.IndexFunc(got.Value, unicode.IsControl) >= 0:
		t.Fatalf("Parse(%q, %s): Value %q has a control character", raw, hint, got.Value)
	case strings.TrimSpace(got.Value) != got.Value:
		t.Fatalf("Parse(%q, %s): Value %q has surrounding whitespace", raw, hint, got.Value)
	case len(got.Value) > MaxLen:
		t.Fatalf("Parse(%q, %s): Value is %d bytes", raw, hint, len(got.Value))
	case got.Type == Auto || !got.Type.concrete():
		t.Fatalf("Parse(%q, %s): Type %q", raw, hint, got.Type)
	case hint != Auto && got.Type != hint:
		t.Fatalf("Parse(%q, %s): Type %s differs from the hint", raw, hint, got.Type)
	case got.Port != 0 && got.Type != IPv4 && got.Type != IPv6 && got.Type != Domain:
		t.Fatalf("Parse(%q, %s): Port %d on a %s", raw, hint, got.Port, got.Type)
	case got.Wildcard && got.Type != Domain:
		t.Fatalf("Parse(%q, %s): Wildcard on a %s", raw, hint, got.Type)
	case got.Type == Domain && strings.Contains(got.Value, "*"):
		t.Fatalf("Parse(%q, %s): domain %q holds a '*'", raw, hint, got.Value)
	}
}

func isSentinel(err error) bool {
	for _, s := range []error{ErrEmpty, ErrTooLong, ErrControlChar, ErrInvalidUTF8, ErrTypeMismatch, ErrUnknownType} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// FuzzIPShortcuts pins the shortcuts the IP normalisers take to save a
// parse (and its error) per value: an IPv4 address netip accepts is
// already in canonical form, and a value mayBeIPv6 turns away is never
// an IPv6 address to netip.
func FuzzIPShortcuts(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "0.0.0.0", "255.255.255.255", "01.2.3.4", "::1", "::ffff:1.2.3.4",
		"fe80::1%eth0", "fe80::1%", "%eth0", "1.2.3.4%x", "::g", "1:2:3:4:5:6:7:8", "a.b:c", "https://x.example/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := netip.ParseAddr(s)
		if v, nerr := normIPv4(s); nerr == nil && v != a.String() {
			t.Fatalf("normIPv4(%q) = %q, netip says %q", s, v, a.String())
		}
		if !mayBeIPv6(s) && err == nil && a.Is6() {
			t.Fatalf("mayBeIPv6(%q) = false for an IPv6 address", s)
		}
	})
}
