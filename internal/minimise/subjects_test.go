package minimise

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/indicator"
)

const (
	rulePrivate = "never_send.cidrs[private]"
	ruleLocal   = "never_send.domain_suffixes[local-domains]"
)

// bypasses are values a hostile review showed reaching a vendor with the
// built-in sets on, with the rule that must now withhold them.
var bypasses = []struct{ raw, want string }{
	// IPv4 in the forms browsers, curl and inet_aton resolve
	{"10.0.0.1.", rulePrivate},
	{"10.0.0.1..", rulePrivate},
	{"http://0x0a000001/", rulePrivate},
	{"0x0a000001", rulePrivate},
	{"0X0A.0.0.1", rulePrivate},
	{"2130706433", rulePrivate},
	{"http://2130706433/", rulePrivate},
	{"012.0.0.1", rulePrivate},
	{"0177.0.0.1", rulePrivate},
	{"017700000001", rulePrivate},
	{"010.0.0.1", rulePrivate}, // octal 8.0.0.1, but 10.0.0.1 to tools that read decimal
	{"10.1", rulePrivate},
	{"127.1", rulePrivate},
	{"192.168.257", rulePrivate},
	{"http://127.0x1/", rulePrivate},
	{"http://0/", rulePrivate},

	// URL hosts as a browser finds them
	{`http://10.0.0.1\@8.8.8.8/`, rulePrivate},
	{`http://printer.local\@example.com/`, ruleLocal},
	{"//10.0.0.1/admin", rulePrivate},
	{"///10.0.0.1/admin", rulePrivate},
	{`\\10.0.0.1\share`, rulePrivate},
	{`\\nas.lan\share`, ruleLocal},
	{"http:/10.0.0.1/", rulePrivate},
	{"http:10.0.0.1", rulePrivate},
	{`http:\\10.0.0.1\`, rulePrivate},
	{"HTTP://10.0.0.1", rulePrivate},
	{"ws://10.0.0.1/socket", rulePrivate},
	{"ftp://user:pw@10.0.0.1:2121/x", rulePrivate},
	{"ssh://git@nas.lan:22/repo", ruleLocal},
	{"smb:nas.lan", ruleLocal},
	{"http://printer%2elocal/", ruleLocal},
	{"http://printer%252elocal/", ruleLocal},
	{"http://%31%30.0.0.1/", rulePrivate},
	{"http://8.8.8.8%40printer.local/", ruleLocal},
	{"http://10.0.0.1%3a8080/", rulePrivate},
	{"http://PRINTER.LOCAL./", ruleLocal},
	{"http://[::ffff:10.0.0.1]/", rulePrivate},
	{"http://[fd00%3a%3a1]/", rulePrivate},
	{"http://0300.0250.0.1/", rulePrivate},
	{"mailto:bob@nas.lan", ruleLocal},
	{"LocalHost", ruleLocal},
	{"https://%E3%80%82printer%E3%80%82local/", ruleLocal},
	{"http://⑩.0.0.1/", rulePrivate},

	// IPv6 addresses embedding a private IPv4 address
	{"::10.0.0.1", rulePrivate},
	{"::a00:1", rulePrivate},
	{"::ffff:0:a00:1", rulePrivate},               // IPv4-translated
	{"64:ff9b::a00:1", rulePrivate},               // well-known NAT64
	{"64:ff9b:1:a00:0:100::", rulePrivate},        // local-use NAT64, /48 layout
	{"64:ff9b:1::a00:1", rulePrivate},             // local-use NAT64, /96 layout
	{"2002:a00:1::1", rulePrivate},                // 6to4
	{"2001:0:a00:1::1", rulePrivate},              // Teredo server
	{"2001:0:808:808:0:0:f5ff:fffe", rulePrivate}, // Teredo client 10.0.0.1
	{"2001:db8::5efe:a00:1", rulePrivate},         // ISATAP
	{"http://[2002:c0a8:101::1]/", rulePrivate},

	// e-mail address literals
	{"a@[IPv6:fd00::1]", rulePrivate},
	{"a@[ipv6:::1]", rulePrivate},
	{"a@[10.0.0.1]", rulePrivate},
	{"alice@[192.168.1.1]", rulePrivate},

	// IDNA full stops and full-width forms
	{"printer.local\u3002", ruleLocal},
	{"printer.local\uff0e", ruleLocal},
	{"printer.local\uff61", ruleLocal},
	{"printer\u3002local", ruleLocal},
	{"http://printer\uff0elocal/", ruleLocal},
	{"ＰＲＩＮＴＥＲ．ＬＯＣＡＬ", ruleLocal},
	{"http://１０．０．０．１/", rulePrivate},

	// free text: every token is judged
	{"10.0.0.1 8.8.8.8", rulePrivate},
	{"8.8.8.8 10.0.0.1", rulePrivate},
	{"8.8.8.8,10.0.0.1", rulePrivate},
	{"8.8.8.8, 10.0.0.1", rulePrivate},
	{"8.8.8.8;10.0.0.1", rulePrivate},
	{"8.8.8.8|10.0.0.1", rulePrivate},
	{"8.8.8.8\u300010.0.0.1", rulePrivate},
	{"8.8.8.8，10.0.0.1", rulePrivate},
	{"example.com,printer.local", ruleLocal},
	{"8.8.8.8-10.0.0.9", rulePrivate},
	{"ip=10.0.0.1", rulePrivate},
	{"x fe80::1%,1", rulePrivate}, // a zone may hold a separator, or be empty

	// reverse-DNS names
	{"1.0.0.10.in-addr.arpa", rulePrivate},
	{"168.192.IN-ADDR.ARPA", rulePrivate},
	{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa", rulePrivate},

	// trailing dots and NULs
	{"printer.local..", ruleLocal},
	{"alice@printer.local.", ruleLocal},
	{"http://printer.local%00.example.com/", ruleLocal},
	{"see (http://10.0.0.1/admin)", rulePrivate},
	{`"nas.lan"`, ruleLocal},

	// cut at every rune no host name or address holds
	{"“printer.local”", ruleLocal},
	{"‘10.0.0.1’", rulePrivate},
	{"«printer.local»", ruleLocal},
	{"**printer.local**", ruleLocal},
	{"*10.0.0.1*", rulePrivate},
	{"printer.local!", ruleLocal},
	{"10.0.0.1!", rulePrivate},
	{"fd00::1!", rulePrivate},
	{"10.0.0.1]", rulePrivate},
	{"printer.local~", ruleLocal},
	{"printer.local^", ruleLocal},
	{"printer.local$", ruleLocal},
	{"x/10.0.0.1", rulePrivate},
	{"x/printer.local", ruleLocal},
	{"host=printer.local&x=1", ruleLocal},
	{"printer.local&x", ruleLocal},
	{"file:///printer.local", ruleLocal},
	{"a:b:10.0.0.1", rulePrivate},
	{"printer.local:631:x", ruleLocal},
	{"printer.local@x", ruleLocal},
	{"10.0.0.1@x", rulePrivate},
	{"printer.local\u200bx", ruleLocal},
	{"printer.local\u180ex", ruleLocal},
	{"print\u200ber.local", ruleLocal},
	{"x[fd00::1]y", rulePrivate},
}

// nearMisses must still be sent.
var nearMisses = []string{
	"8.8.8.8",
	"http://8.8.8.8/",
	"https://8.8.8.8:8443/x",
	`http://8.8.8.8\@example.com/`,
	"2001:4860:4860::8888",
	"::8.8.8.8",
	"64:ff9b::808:808",
	"2002:808:808::1",
	"2001:0:808:808:0:0:f7f7:f7f7", // Teredo, server and client 8.8.8.8
	"evilcorp.example.com",
	"https://evilcorp.example.com/",
	"example.local.com",
	"printer.localhost.example.com",
	"http://example.local.com/",
	"d41d8cd98f00b204e9800998ecf8427e",
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"alice",
	"alice@example.org",
	"jane.doe",
	"+14155552671",
	"1.2",        // 1.0.0.2
	"2.0",        // 2.0.0.0
	"alice 1985", // a lone number below 2^24 in text is a number
	"12345",
	"12:30",
	"4294967296", // overflows an IPv4 address
	"256.1.1.1",
	"1.2.3.4.5",
	"8.8.8.8.in-addr.arpa",
	"in-addr.arpa",
	"john.doe",
	"8.8.8.8!",
	"example.com/path",
	"alice@example.com",
	"“example.com”",
	"x/8.8.8.8",
	"2001:4860:4860::8888!",
	"Bob.Smith+tag@mail.example.net",
	"пример.рф",
}

// judged returns the indicator the policy sees for raw: on /v1/resolve
// (and /v1/lookup with type auto) Parse's result, else the query as a
// username; with hint username, Parse's result under that hint, else the
// same.
func judged(t *testing.T, raw string, hint indicator.Type) indicator.Indicator {
	t.Helper()
	if ind, err := indicator.Parse(raw, hint); err == nil {
		return ind
	}
	q, err := indicator.CheckInput(raw)
	require.NoError(t, err)
	return indicator.Indicator{Raw: raw, Value: q, Type: indicator.Username}
}

func TestCheckBypasses(t *testing.T) {
	t.Parallel()
	p := testPolicy(t)
	defaults, err := NewPolicy(RuleSet{}, map[string]ProviderRules{"vt": {}})
	require.NoError(t, err)
	for _, c := range bypasses {
		t.Run(c.raw, func(t *testing.T) {
			t.Parallel()
			for _, hint := range []indicator.Type{indicator.Auto, indicator.Username} {
				ind := judged(t, c.raw, hint)
				for _, pol := range []*Policy{p, defaults} {
					rule, withheld := pol.Check("vt", Markings{}, ind)
					require.True(t, withheld, "%q (hint %s) judged as %s %q was sent", c.raw, hint, ind.Type, ind.Value)
					require.Equal(t, c.want, rule, "%q (hint %s)", c.raw, hint)
				}
			}
			// forged: the raw string under every type claim
			for _, typ := range fuzzTypes {
				ind := indicator.Indicator{Raw: c.raw, Value: c.raw, Type: typ}
				rule, withheld := defaults.Check("vt", Markings{}, ind)
				require.True(t, withheld, "%q as %s was sent", c.raw, typ)
				require.Equal(t, c.want, rule, "%q as %s", c.raw, typ)
			}
		})
	}
}

func TestCheckNearMisses(t *testing.T) {
	t.Parallel()
	p := testPolicy(t)
	for _, raw := range nearMisses {
		t.Run(raw, func(t *testing.T) {
			t.Parallel()
			for _, hint := range []indicator.Type{indicator.Auto, indicator.Username} {
				ind := judged(t, raw, hint)
				rule, withheld := p.Check("vt", Markings{}, ind)
				require.False(t, withheld, "%q (hint %s) judged as %s %q withheld by %s", raw, hint, ind.Type, ind.Value, rule)
			}
		})
	}
	// A URL's path and query are not where it leads, commas or not (as
	// free text, each token would be judged).
	for _, raw := range []string{"https://example.com/?h=10.0.0.1", "https://example.com/a,10.0.0.1;b|c?h=1,10.0.0.1"} {
		ind, err := indicator.Parse(raw, indicator.Auto)
		require.NoError(t, err)
		require.Equal(t, indicator.URL, ind.Type)
		_, withheld := p.Check("vt", Markings{}, ind)
		require.False(t, withheld, raw)
	}
}

// TestCheckReportsGlobalFirst pins the documented order when different
// parts of one value fall under different rule sets.
func TestCheckReportsGlobalFirst(t *testing.T) {
	t.Parallel()
	p := testPolicy(t)
	for _, raw := range []string{"api.partner.example.net 10.0.0.1", "10.0.0.1 api.partner.example.net"} {
		rule, withheld := p.Check("vt", Markings{}, judged(t, raw, indicator.Auto))
		require.True(t, withheld)
		require.Equal(t, rulePrivate, rule, raw)
	}
	rule, _ := p.Check("vt", Markings{}, judged(t, "api.partner.example.net 8.8.8.8", indicator.Auto))
	require.Equal(t, "providers.vt.never_send.domain_suffixes[0]", rule)
	rule, _ = p.Check("vt", Markings{}, judged(t, "alice secret-7", indicator.Auto))
	require.Equal(t, "never_send.patterns[0]", rule, "patterns see every token")
}

// TestCheckJudgesRaw: /v1/resolve forwards the raw query, so a raw input
// that differs from the value is judged too.
func TestCheckJudgesRaw(t *testing.T) {
	t.Parallel()
	p := testPolicy(t)
	rule, withheld := p.Check("vt", Markings{}, indicator.Indicator{Raw: " 10.0.0.1 x ", Value: "x", Type: indicator.Username})
	require.True(t, withheld)
	require.Equal(t, rulePrivate, rule)
	_, withheld = p.Check("vt", Markings{}, indicator.Indicator{Raw: " 8.8.8.8\n", Value: "8.8.8.8", Type: indicator.IPv4})
	require.False(t, withheld)
}

func TestParseIPv4(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in, want, alt string // want "" means no address
		small         bool
	}{
		{in: "10.0.0.1", want: "10.0.0.1"},
		{in: "10.0.0.1.", want: "10.0.0.1"},
		{in: "10.0.0.1%eth0", want: "10.0.0.1"},
		{in: "0x0a000001", want: "10.0.0.1"},
		{in: "0x0A.0X0.0.0x1", want: "10.0.0.1"},
		{in: "0x", want: "0.0.0.0", small: true},
		{in: "0", want: "0.0.0.0", small: true},
		{in: "16777215", want: "0.255.255.255", small: true},
		{in: "16777216", want: "1.0.0.0"},
		{in: "4294967295", want: "255.255.255.255"},
		{in: "0xffffffff", want: "255.255.255.255"},
		{in: "037777777777", want: "255.255.255.255"},
		{in: "012.0.0.1", want: "10.0.0.1", alt: "12.0.0.1"},
		{in: "08.0.0.1", want: "8.0.0.1"}, // not octal: only the decimal reading
		{in: "10.1", want: "10.0.0.1"},
		{in: "10.0.1", want: "10.0.0.1"},
		{in: "10.16777215", want: "10.255.255.255"},
		{in: "10.0.65535", want: "10.0.255.255"},
		{in: "10.0.0.255", want: "10.0.0.255"},
		{in: "4294967296"},
		{in: "0x100000000"},
		{in: "99999999999999999999999"},
		{in: "10.16777216"},
		{in: "10.0.65536"},
		{in: "10.0.0.256"},
		{in: "256.0.0.1"},
		{in: "1.2.3.4.5"},
		{in: "1..2"},
		{in: ".1"},
		{in: ""},
		{in: "."},
		{in: "0x1g"},
		{in: "1e3"},
		{in: "+1"},
		{in: "1_000"},
		{in: "a.b"},
		{in: "10.0.0.1x"},
	} {
		a, alt, small, ok := parseIPv4(c.in)
		if c.want == "" {
			require.False(t, ok, "%q gave %s", c.in, a)
			continue
		}
		require.True(t, ok, c.in)
		require.Equal(t, c.want, a.String(), c.in)
		if c.alt == "" {
			require.False(t, alt.IsValid(), "%q alt %s", c.in, alt)
		} else {
			require.Equal(t, c.alt, alt.String(), c.in)
		}
		require.Equal(t, c.small, small, c.in)
	}
}

func TestEmbeddedIPv4(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want []string // after the address itself
	}{
		{"::10.0.0.1", []string{"10.0.0.1"}},
		{"::ffff:10.0.0.1", nil}, // unmapped: the address is 10.0.0.1
		{"::ffff:0:a00:1", []string{"10.0.0.1"}},
		{"64:ff9b::a00:1", []string{"10.0.0.1"}},
		{"64:ff9b:1:a00:0:100::", []string{"10.0.0.1", "0.0.1.0", "0.1.0.0", "0.0.0.0"}},
		{"2002:a00:1::1", []string{"10.0.0.1"}},
		{"2001:0:808:808:0:0:f5ff:fffe", []string{"8.8.8.8", "10.0.0.1"}},
		{"fe80::200:5efe:a00:1", []string{"10.0.0.1"}},
		{"2001:4860:4860::8888", nil},
		{"fd00::1%eth0", nil},
	} {
		var s subjects
		require.True(t, s.setAddr(c.in, true), c.in)
		var got []string
		for _, a := range s.addrs[1:s.naddr] {
			got = append(got, a.String())
		}
		require.Equal(t, c.want, got, c.in)
		require.Empty(t, s.addrs[0].Zone(), c.in)
	}
}

// TestCheckForgedShapes covers type claims whose fast path must not
// trust a value of another shape.
func TestCheckForgedShapes(t *testing.T) {
	t.Parallel()
	p := testPolicy(t)
	for _, c := range []struct {
		ind  indicator.Indicator
		want string
	}{
		{indicator.Indicator{Value: "127.0x1", Type: indicator.Domain}, rulePrivate},
		{indicator.Indicator{Value: "10.1", Type: indicator.IPv4}, rulePrivate},
		{indicator.Indicator{Value: "167772161", Type: indicator.MD5}, rulePrivate},
		{indicator.Indicator{Value: `http://10.0.0.1\@8.8.8.8/`, Type: indicator.URL}, rulePrivate},
		{indicator.Indicator{Value: "http://8.8.8.8/ 10.0.0.1", Type: indicator.URL}, rulePrivate},
		{indicator.Indicator{Value: "a@[IPv6:fd00::1]", Type: indicator.Email}, rulePrivate},
		{indicator.Indicator{Value: "a@b.example,c@printer.local", Type: indicator.Email}, ruleLocal},
		{indicator.Indicator{Value: "a@printer.local:25", Type: indicator.Email}, ruleLocal},
		{indicator.Indicator{Value: "http://10.0.0\n.1/", Type: indicator.URL}, rulePrivate},
		{indicator.Indicator{Value: "[10.0.0.1]", Type: indicator.IPv6}, rulePrivate},
	} {
		rule, withheld := p.Check("vt", Markings{}, c.ind)
		require.Equal(t, c.want, rule, "%s %q", c.ind.Type, c.ind.Value)
		require.Equal(t, c.want != "", withheld)
	}
}

// TestBypassCorpusIsSeeded keeps the fuzz corpus in step with the table.
func TestBypassCorpusIsSeeded(t *testing.T) {
	t.Parallel()
	seeds := map[string]bool{}
	for _, s := range fuzzSeeds() {
		seeds[s] = true
	}
	for _, c := range bypasses {
		require.True(t, seeds[c.raw], "%q is not a fuzz seed", c.raw)
	}
}

// TestCheckPiecesAreBounded: a value cut into more than maxPieces pieces
// is withheld by RuleTooManyPieces, in linear time, unless a global rule
// matched first.
func TestCheckPiecesAreBounded(t *testing.T) {
	t.Parallel()
	p := testPolicy(t)
	many := strings.Repeat("a!", maxPieces+1)
	for _, typ := range []indicator.Type{indicator.Username, indicator.Email, ""} {
		rule, withheld := p.Check("vt", Markings{}, indicator.Indicator{Value: many, Raw: many, Type: typ})
		require.True(t, withheld, typ)
		require.Equal(t, RuleTooManyPieces, rule, typ)
	}
	few := strings.Repeat("a!", maxPieces-1)
	_, withheld := p.Check("vt", Markings{}, indicator.Indicator{Value: few, Raw: few, Type: indicator.Username})
	require.False(t, withheld)
	first := "10.0.0.1!" + many
	rule, _ := p.Check("vt", Markings{}, indicator.Indicator{Value: first, Raw: first, Type: indicator.Username})
	require.Equal(t, rulePrivate, rule)

	// 1 MiB of each shape, forged: bounded, whatever the separators.
	for _, big := range []string{
		strings.Repeat("a", 1<<20), strings.Repeat("a!", 1<<19), strings.Repeat(":", 1<<20),
		strings.Repeat("\u200b", 1<<18), strings.Repeat("a.b:", 1<<18), strings.Repeat("я", 1<<19),
	} {
		start := time.Now()
		p.Check("vt", Markings{}, indicator.Indicator{Value: big, Raw: big, Type: indicator.Username})
		require.Less(t, time.Since(start), 10*time.Second)
	}
}
