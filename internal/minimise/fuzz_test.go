package minimise

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/intelgate/intelgate/internal/indicator"
)

// fuzzTypes are the types the fuzzer picks from: every concrete type,
// Auto, the zero type and one no code knows.
var fuzzTypes = append(indicator.Types(), indicator.Auto, "", "toaster")

// FuzzCheck checks, for any value under any type claim, parsed or forged:
// Check never panics; it answers the same twice; a withheld indicator
// names a rule and never the value; and a value that is itself an address
// in the private set is withheld whatever type it claims.
func FuzzCheck(f *testing.F) {
	for i, s := range []string{
		"10.1.2.3", "8.8.8.8", "::ffff:10.0.0.1", "fe80::1%eth0", "[fd00::1]", "64:ff9b::a00:1",
		"host.internal", "corp.example.com", "evilcorp.example.com", "alice@corp.example.com", "x@[10.0.0.1]",
		"hxxp://10[.]0[.]0[.]5/path", "https://user@printer.local:8443/x", "http://[fd00::1]/", "http://a@b@[::1]/",
		"http://%zz@10.0.0.1/", "http://", "@", "", ".", "..", "a..b", "secret-1", "10.0.0.1:8080", "printer.local/x",
		"d41d8cd98f00b204e9800998ecf8427e", "+14155552671", "пример.рф", "\xff", strings.Repeat("a.", 200),
	} {
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
		bare := ind.Value
		if len(bare) >= 2 && bare[0] == '[' && bare[len(bare)-1] == ']' {
			bare = bare[1 : len(bare)-1]
		}
		a, err := netip.ParseAddr(bare)
		if err != nil {
			return
		}
		if _, inPrivate := private.Match(indicator.Indicator{Value: a.WithZone("").Unmap().String(), Type: indicator.IPv4}); inPrivate && !withheld {
			t.Fatalf("Check(%q, %s) sent an address in the private set", ind.Value, ind.Type)
		}
	})
}
