package minimise

import (
	"errors"
	"net/netip"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/indicator"
)

// testGlobal is the global rule set most tests use, built-ins on.
var testGlobal = RuleSet{
	CIDRs:          []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8:1::/48")},
	DomainSuffixes: []string{"corp.example.com"},
	EmailDomains:   []string{"mail.example.org"},
	Patterns:       []string{"secret-.*"},
}

func testPolicy(t testing.TB) *Policy {
	t.Helper()
	p, err := NewPolicy(testGlobal, map[string]ProviderRules{
		"vt":     {NeverSend: RuleSet{DomainSuffixes: []string{"partner.example.net"}, Patterns: []string{`\d{4}-\d{4}`}}},
		"open":   {MaxTLP: "red", MaxPAP: "PAP:RED"},
		"strict": {MaxTLP: "clear", MaxPAP: "green"},
	})
	require.NoError(t, err)
	return p
}

func TestCheck(t *testing.T) {
	t.Parallel()
	p := testPolicy(t)
	amber := Markings{TLP: TLPAmber, PAP: PAPAmber}
	const (
		private = "never_send.cidrs[private]"
		local   = "never_send.domain_suffixes[local-domains]"
		corp    = "never_send.domain_suffixes[0]"
	)
	for _, c := range []struct {
		name     string
		raw      string
		hint     indicator.Type // zero: Auto
		provider string         // zero: vt
		m        *Markings      // nil: amber/amber
		want     string         // "" means sent
	}{
		// addresses: the built-in private set
		{name: "rfc1918 10/8", raw: "10.1.2.3", want: private},
		{name: "rfc1918 172.16/12 top", raw: "172.31.255.255", want: private},
		{name: "just past 172.16/12", raw: "172.32.0.1"},
		{name: "rfc1918 192.168/16", raw: "192.168.0.1", want: private},
		{name: "loopback", raw: "127.0.0.1", want: private},
		{name: "link-local v4", raw: "169.254.1.1", want: private},
		{name: "cgnat", raw: "100.64.0.1", want: private},
		{name: "just past cgnat", raw: "100.128.0.1"},
		{name: "v6 loopback", raw: "::1", want: private},
		{name: "v6 ula", raw: "fd12::1", want: private},
		{name: "v6 link-local", raw: "fe80::1", want: private},
		{name: "v4-mapped private", raw: "::ffff:10.0.0.1", want: private},
		{name: "nat64 of a private address", raw: "64:ff9b::a00:1", want: private},
		{name: "nat64 of a public address", raw: "64:ff9b::808:808"},
		{name: "public v4", raw: "8.8.8.8"},
		{name: "public v6", raw: "2606:4700::1111"},
		{name: "configured cidr", raw: "198.51.100.77", want: "never_send.cidrs[0]"},
		{name: "configured v6 cidr", raw: "2001:db8:1::5", want: "never_send.cidrs[1]"},

		// names: the built-in local-domains set and a configured suffix
		{name: ".internal", raw: "host.internal", hint: indicator.Domain, want: local},
		{name: ".internal detected as username", raw: "host.internal", want: local},
		{name: ".local", raw: "printer.local", hint: indicator.Domain, want: local},
		{name: ".lan", raw: "nas.lan", hint: indicator.Domain, want: local},
		{name: "trailing dot", raw: "NAS.LAN.", hint: indicator.Domain, want: local},
		{name: "internal as a label, not the suffix", raw: "internal.example.com"},
		{name: "suffix itself", raw: "corp.example.com", want: corp},
		{name: "below the suffix", raw: "a.b.corp.example.com", want: corp},
		{name: "suffix on label boundary only", raw: "evilcorp.example.com"},
		{name: "suffix as a prefix", raw: "corp.example.com.evil.com"},
		{name: "defanged domain", raw: "a.corp[.]example[.]com", want: corp},

		// e-mail: email_domains, and domain suffixes on the domain part
		{name: "email at an email domain", raw: "alice@mail.example.org", want: "never_send.email_domains[0]"},
		{name: "email below an email domain", raw: "bob@eu.mail.example.org", want: "never_send.email_domains[0]"},
		{name: "email elsewhere", raw: "alice@example.org"},
		{name: "email domain alone is no e-mail", raw: "mail.example.org"},
		{name: "email at an internal suffix", raw: "alice@corp.example.com", want: corp},
		{name: "email at a local domain", raw: "alice@printer.local", hint: indicator.Email, want: local},

		// URLs: the host is judged
		{name: "refanged url to a private host", raw: "hxxp://10[.]0[.]0[.]5/path", want: private},
		{name: "url with userinfo and port", raw: "https://user@printer.local:8443/x", want: local},
		{name: "url with a bracketed ula", raw: "http://[fd00::1]/", want: private},
		{name: "url to a mapped address", raw: "http://[::ffff:192.168.1.1]:8080/", want: private},
		{name: "url below a suffix", raw: "https://wiki.corp.example.com/page", want: corp},
		{name: "url with a private address in the query only", raw: "https://example.com/?h=10.0.0.1"},
		{name: "public url", raw: "https://evilcorp.example.com/login"},
		{name: "pattern on a url host", raw: "http://secret-db.example.com/", want: "never_send.patterns[0]"},

		// patterns are anchored
		{name: "pattern", raw: "secret-1", hint: indicator.Username, want: "never_send.patterns[0]"},
		{name: "pattern is anchored at the start", raw: "xsecret-1", hint: indicator.Username},

		// hashes are never addresses
		{name: "md5", raw: "0a0000010a0000010a0000010a000001"},
		{name: "sha256", raw: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},

		// a type is a claim, not a limit
		{name: "private address typed username", raw: "10.0.0.1", hint: indicator.Username, want: private},
		{name: "address and port", raw: "10.0.0.1:8080", want: private},
		{name: "local name and port", raw: "printer.local:631", want: local},
		{name: "schemeless path on a local name", raw: "printer.local/admin", hint: indicator.Username, want: local},
		{name: "email typed username", raw: "alice@mail.example.org", hint: indicator.Username, want: "never_send.email_domains[0]"},
		{name: "url typed username", raw: "hxxps://nas[.]lan/", hint: indicator.Username, want: local},

		// provider rules add to the global ones
		{name: "provider suffix", raw: "api.partner.example.net", want: "providers.vt.never_send.domain_suffixes[0]"},
		{name: "provider suffix does not bind others", raw: "api.partner.example.net", provider: "open"},
		{name: "provider pattern", raw: "1234-5678", hint: indicator.Username, want: "providers.vt.never_send.patterns[0]"},
		{name: "global rules bind every provider", raw: "10.0.0.1", provider: "open", m: &Markings{TLPRed, PAPRed}, want: private},

		// markings
		{name: "red to max amber", raw: "8.8.8.8", m: &Markings{TLPRed, PAPClear}, want: RuleTLP},
		{name: "amber+strict above amber", raw: "8.8.8.8", m: &Markings{TLPAmberStrict, PAPAmber}, want: RuleTLP},
		{name: "green under amber", raw: "8.8.8.8", m: &Markings{TLPGreen, PAPGreen}},
		{name: "pap red to max amber", raw: "8.8.8.8", m: &Markings{TLPClear, PAPRed}, want: RulePAP},
		{name: "red to max red", raw: "8.8.8.8", provider: "open", m: &Markings{TLPRed, PAPRed}},
		{name: "unset markings are amber, not clear", raw: "8.8.8.8", provider: "strict", m: &Markings{}, want: RuleTLP},
		{name: "unset markings pass max amber", raw: "8.8.8.8", m: &Markings{}},
		{name: "clear to max clear", raw: "8.8.8.8", provider: "strict", m: &Markings{TLPClear, PAPGreen}},
		{name: "pap above max green", raw: "8.8.8.8", provider: "strict", m: &Markings{TLPClear, PAPAmber}, want: RulePAP},
		{name: "tlp checked before rules", raw: "10.0.0.1", m: &Markings{TLPRed, PAPAmber}, want: RuleTLP},
		{name: "out of range marking fails closed", raw: "8.8.8.8", provider: "open", m: &Markings{TLP(200), PAPAmber}, want: RuleTLP},

		{name: "unknown provider fails closed", raw: "8.8.8.8", provider: "nope", want: RuleUnknownProvider},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ind, err := indicator.Parse(c.raw, c.hint)
			require.NoError(t, err)
			provider, m := c.provider, amber
			if provider == "" {
				provider = "vt"
			}
			if c.m != nil {
				m = *c.m
			}
			rule, withheld := p.Check(provider, m, ind)
			require.Equal(t, c.want, rule, "%s parsed as %s %q", c.raw, ind.Type, ind.Value)
			require.Equal(t, c.want != "", withheld)
		})
	}
}

// TestCheckForgedIndicators covers values no Parse call makes: a caller
// that builds an Indicator by hand must not slip past the rules.
func TestCheckForgedIndicators(t *testing.T) {
	t.Parallel()
	p := testPolicy(t)
	for _, c := range []struct {
		ind  indicator.Indicator
		want string
	}{
		{indicator.Indicator{Value: "fe80::1%eth0", Type: indicator.IPv6}, "never_send.cidrs[private]"},
		{indicator.Indicator{Value: "[fd00::1]", Type: indicator.IPv6}, "never_send.cidrs[private]"},
		{indicator.Indicator{Value: "10.0.0.1", Type: indicator.Domain}, "never_send.cidrs[private]"},
		{indicator.Indicator{Value: "10.0.0.1", Type: indicator.MD5}, "never_send.cidrs[private]"},
		{indicator.Indicator{Value: "Printer.LOCAL", Type: indicator.Domain}, "never_send.domain_suffixes[local-domains]"},
		{indicator.Indicator{Value: "http://a@b@[::1]/", Type: indicator.URL}, "never_send.cidrs[private]"},
		{indicator.Indicator{Value: "http://%zz@10.0.0.1/", Type: indicator.URL}, "never_send.cidrs[private]"},
		{indicator.Indicator{Value: "x@[10.0.0.1]", Type: indicator.Email}, "never_send.cidrs[private]"},
		{indicator.Indicator{Value: "10.0.0.1", Type: "toaster"}, "never_send.cidrs[private]"},
		{indicator.Indicator{}, ""},
		{indicator.Indicator{Value: "http://", Type: indicator.URL}, ""},
		{indicator.Indicator{Value: "@", Type: indicator.Email}, ""},
	} {
		t.Run(string(c.ind.Type)+"/"+c.ind.Value, func(t *testing.T) {
			t.Parallel()
			rule, withheld := p.Check("vt", Markings{}, c.ind)
			require.Equal(t, c.want, rule)
			require.Equal(t, c.want != "", withheld)
		})
	}
}

func TestDisableTurnsBuiltinsOff(t *testing.T) {
	t.Parallel()
	ip, err := indicator.Parse("10.1.2.3", indicator.Auto)
	require.NoError(t, err)
	host, err := indicator.Parse("host.internal", indicator.Domain)
	require.NoError(t, err)
	for _, c := range []struct {
		disable        []string
		wantIP, wantDN string
	}{
		{nil, "never_send.cidrs[private]", "never_send.domain_suffixes[local-domains]"},
		{[]string{"private"}, "", "never_send.domain_suffixes[local-domains]"},
		{[]string{"local-domains"}, "never_send.cidrs[private]", ""},
		{[]string{"private", "local-domains"}, "", ""},
	} {
		p, err := NewPolicy(RuleSet{Disable: c.disable}, map[string]ProviderRules{"vt": {}})
		require.NoError(t, err)
		rule, _ := p.Check("vt", Markings{}, ip)
		require.Equal(t, c.wantIP, rule, "disable %v", c.disable)
		rule, _ = p.Check("vt", Markings{}, host)
		require.Equal(t, c.wantDN, rule, "disable %v", c.disable)
	}
	// a provider's own rule still holds with the built-in off
	p, err := NewPolicy(RuleSet{Disable: []string{"private"}}, map[string]ProviderRules{
		"vt": {NeverSend: RuleSet{CIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}},
	})
	require.NoError(t, err)
	rule, withheld := p.Check("vt", Markings{}, ip)
	require.True(t, withheld)
	require.Equal(t, "providers.vt.never_send.cidrs[0]", rule)
}

func TestNewPolicyReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := NewPolicy(RuleSet{Patterns: []string{"("}}, map[string]ProviderRules{
		"b": {MaxTLP: "purple", MaxPAP: "amber+strict"},
		"a": {NeverSend: RuleSet{Disable: []string{"private"}, DomainSuffixes: []string{"*.x.example"}}},
	})
	var fes FieldErrors
	require.True(t, errors.As(err, &fes))
	var fields []string
	for _, fe := range fes {
		fields = append(fields, fe.Field)
	}
	require.Equal(t, []string{
		"never_send.patterns[0]",
		"providers.a.never_send.disable",
		"providers.a.never_send.domain_suffixes[0]",
		"providers.b.max_tlp",
		"providers.b.max_pap",
	}, fields)
	require.ErrorContains(t, err, `providers.b.max_tlp: invalid TLP "purple"`)
}

func TestLimits(t *testing.T) {
	t.Parallel()
	p := testPolicy(t)
	m, ok := p.Limits("vt")
	require.True(t, ok)
	require.Equal(t, Markings{TLPAmber, PAPAmber}, m, "max_tlp and max_pap default to amber")
	m, ok = p.Limits("open")
	require.True(t, ok)
	require.Equal(t, Markings{TLPRed, PAPRed}, m)
	_, ok = p.Limits("nope")
	require.False(t, ok)
}

// TestCheckConcurrent runs Check from many goroutines on one Policy, for
// the race detector; results are compared on the test goroutine.
func TestCheckConcurrent(t *testing.T) {
	t.Parallel()
	p := testPolicy(t)
	inds := make([]indicator.Indicator, 0, 4)
	for _, raw := range []string{"10.0.0.1", "8.8.8.8", "https://printer.local/", "secret-9"} {
		ind, err := indicator.Parse(raw, indicator.Auto)
		require.NoError(t, err)
		inds = append(inds, ind)
	}
	const workers = 8
	got := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range 50 {
				for _, ind := range inds {
					rule, _ := p.Check("vt", Markings{}, ind)
					got[w] = append(got[w], rule)
				}
			}
		})
	}
	wg.Wait()
	for w := range workers {
		for i, rule := range got[w] {
			want, _ := p.Check("vt", Markings{}, inds[i%len(inds)])
			require.Equal(t, want, rule)
		}
	}
}

// TestCheckDoesNotAllocate pins the common path: an address, a domain,
// an e-mail address, a hash or a username that is sent (and the built-in
// sets withholding the plain forms). (Patterns are left out of this policy: under -race,
// sync.Pool drops items at random, so regexp's pooled matchers would
// allocate by chance; BenchmarkCheck reports the full policy.)
//
// Not parallel: testing.AllocsPerRun refuses to run in a parallel test.
func TestCheckDoesNotAllocate(t *testing.T) {
	rs := testGlobal
	rs.Patterns = nil
	p, err := NewPolicy(rs, map[string]ProviderRules{"vt": {NeverSend: RuleSet{DomainSuffixes: []string{"partner.example.net"}}}})
	require.NoError(t, err)
	for _, raw := range []string{"203.0.113.7", "2001:db8::1", "www.example.com", "a.b.c.d.example.co.uk", "10.0.0.1", "nas.lan",
		"alice@example.org", "Bob.Smith+tag@mail.example.net", "d41d8cd98f00b204e9800998ecf8427e",
		"da39a3ee5e6b4b0d3255bfef95601890afd80709", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"alice", "jane.doe", "@Alice_99", "printer.local", "https://example.com/login.php?x=1"} {
		ind, err := indicator.Parse(raw, indicator.Auto)
		require.NoError(t, err)
		allocs := testing.AllocsPerRun(100, func() { p.Check("vt", Markings{}, ind) })
		require.Zero(t, allocs, raw)
	}
}

func BenchmarkCheck(b *testing.B) {
	p := testPolicy(b)
	for _, c := range []struct{ name, raw string }{
		{"ipv4", "203.0.113.7"},
		{"ipv4_private", "10.1.2.3"},
		{"ipv6", "2001:db8::1"},
		{"domain", "www.example.com"},
		{"domain_local", "printer.local"},
		{"email", "alice@example.org"},
		{"url", "https://example.com/login.php?x=1"},
		{"sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"username", "alice"},
	} {
		ind, err := indicator.Parse(c.raw, indicator.Auto)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Check("vt", Markings{}, ind)
			}
		})
	}
}
