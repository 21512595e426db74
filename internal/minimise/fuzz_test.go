package minimise

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/intelgate/intelgate/internal/indicator"
)

// fuzzTypes are the types the fuzzer picks from: every concrete type,
// Auto, the zero type and one no code knows.
var fuzzTypes = append(indicator.Types(), indicator.Auto, "", "toaster")

// fuzzSeeds are FuzzCheck's seeds: shapes of every kind, every known
// bypass (TestBypassCorpusIsSeeded keeps them in) and the near misses.
func fuzzSeeds() []string {
	seeds := []string{
		"10.1.2.3", "8.8.8.8", "::ffff:10.0.0.1", "fe80::1%eth0", "[fd00::1]", "64:ff9b::a00:1",
		"host.internal", "corp.example.com", "evilcorp.example.com", "alice@corp.example.com", "x@[10.0.0.1]",
		"hxxp://10[.]0[.]0[.]5/path", "https://user@printer.local:8443/x", "http://[fd00::1]/", "http://a@b@[::1]/",
		"http://%zz@10.0.0.1/", "http://", "@", "", ".", "..", "a..b", "secret-1", "10.0.0.1:8080", "printer.local/x",
		"d41d8cd98f00b204e9800998ecf8427e", "+14155552671", "пример.рф", "\xff", strings.Repeat("a.", 200),
		"http://[fe80::1%25eth0]/", "%", "%%31", "[", "[]", "a@[", "http://[::1", "0x", "0.", "1.2.3.4.5.6",
	}
	for _, b := range bypasses {
		seeds = append(seeds, b.raw)
	}
	return append(seeds, nearMisses...)
}

// FuzzCheck checks, for any value under any type claim, parsed or forged:
// Check never panics; it answers the same twice; a withheld indicator
// names a rule and never the value; and whatever type it claims, a value
// is withheld when it, or a whitespace-separated token of it, is an
// address in the private set as net/netip or (in a form with a dot or of
// at least 2^24) inet_aton reads it, or a URL whose host net/url finds to
// be one.
func FuzzCheck(f *testing.F) {
	for i, s := range fuzzSeeds() {
		f.Add(s, uint8(i), i%2 == 0)
	}
	p, err := NewPolicy(testGlobal, map[string]ProviderRules{"vt": {MaxTLP: "red"}})
	if err != nil {
		f.Fatal(err)
	}
	private, err := Compile("never_send", RuleSet{}, true)
	if err != nil {
		f.Fatal(err)
	}
	isPrivate := func(a netip.Addr) bool {
		_, in := private.Match(indicator.Indicator{Value: a.WithZone("").Unmap().String(), Type: indicator.IPv4})
		return in
	}
	f.Fuzz(func(t *testing.T, v string, h uint8, forged bool) {
		typ := fuzzTypes[int(h)%len(fuzzTypes)]
		ind := indicator.Indicator{Raw: v, Value: v, Type: typ}
		if !forged {
			var err error
			if ind, err = indicator.Parse(v, typ); err != nil {
				return
			}
		}
		m := Markings{TLP: TLP(h % 7), PAP: PAP(h % 6)}
		rule, withheld := p.Check("vt", m, ind)
		again, again2 := p.Check("vt", m, ind)
		if rule != again || withheld != again2 {
			t.Fatalf("Check(%q, %s) = %q, %v then %q, %v", ind.Value, ind.Type, rule, withheld, again, again2)
		}
		if withheld != (rule != "") {
			t.Fatalf("Check(%q, %s) = %q, %v: a withheld indicator names its rule, a sent one none",
				ind.Value, ind.Type, rule, withheld)
		}
		if withheld && rule != RuleTLP && rule != RulePAP && !strings.HasPrefix(rule, "never_send.") &&
			!strings.HasPrefix(rule, "providers.vt.never_send.") {
			t.Fatalf("Check(%q, %s) rule %q is not a rule name", ind.Value, ind.Type, rule)
		}
		if withheld {
			return
		}
		tokens := strings.Fields(ind.Value)
		if len(tokens) != 1 {
			tokens = append(tokens, ind.Value)
		}
		for _, tok := range tokens {
			bare := tok
			if len(bare) >= 2 && bare[0] == '[' && bare[len(bare)-1] == ']' {
				bare = bare[1 : len(bare)-1]
			}
			if a, err := netip.ParseAddr(bare); err == nil && isPrivate(a) {
				t.Fatalf("Check(%q, %s) sent %q, an address in the private set", ind.Value, ind.Type, tok)
			}
			if a, ok := refInetAton(tok); ok && isPrivate(a) {
				t.Fatalf("Check(%q, %s) sent %q, inet_aton %s, in the private set", ind.Value, ind.Type, tok, a)
			}
			if u, err := url.Parse(tok); err == nil && u.Host != "" {
				if a, err := netip.ParseAddr(u.Hostname()); err == nil && isPrivate(a) {
					t.Fatalf("Check(%q, %s) sent %q, whose net/url host %s is private", ind.Value, ind.Type, tok, a)
				}
			}
		}
	})
}

// refInetAton is an independent inet_aton(3) for FuzzCheck, on strconv:
// 1-4 dot-separated parts (trailing dots dropped), each 0x-hex, 0-octal or
// decimal. A lone number below 2^24 does not count (see setAddr).
func refInetAton(s string) (netip.Addr, bool) {
	parts := strings.Split(strings.TrimRight(s, "."), ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var x uint64
	for i, part := range parts {
		var n uint64
		var err error
		switch {
		case part == "":
			return netip.Addr{}, false
		case part == "0x" || part == "0X":
		case strings.HasPrefix(part, "0x") || strings.HasPrefix(part, "0X"):
			n, err = strconv.ParseUint(part[2:], 16, 32)
		case len(part) > 1 && part[0] == '0':
			n, err = strconv.ParseUint(part, 8, 32)
		default:
			n, err = strconv.ParseUint(part, 10, 32)
		}
		if err != nil {
			return netip.Addr{}, false
		}
		if i < len(parts)-1 {
			if n > 255 {
				return netip.Addr{}, false
			}
			x |= n << (8 * (3 - i))
			continue
		}
		if n >= 1<<(8*(5-len(parts))) {
			return netip.Addr{}, false
		}
		if len(parts) == 1 && n < 1<<24 {
			return netip.Addr{}, false
		}
		x |= n
	}
	return netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)}), true
}
