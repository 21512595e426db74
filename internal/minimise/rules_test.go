package minimise

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/indicator"
)

func TestCompileErrorsNameTheField(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		field    string
		rs       RuleSet
		builtins bool
		want     []string // each "field: message" prefix, in order
	}{
		{
			name: "bad regexp", field: "never_send", builtins: true,
			rs:   RuleSet{Patterns: []string{"ok-.*", "a(b"}},
			want: []string{"never_send.patterns[1]: invalid regular expression: error parsing regexp: missing closing )"},
		},
		{
			name: "empty pattern", field: "never_send",
			rs:   RuleSet{Patterns: []string{""}},
			want: []string{"never_send.patterns[0]: must not be empty"},
		},
		{
			name: "unknown built-in", field: "never_send", builtins: true,
			rs:   RuleSet{Disable: []string{"private", "foo"}},
			want: []string{`never_send.disable[1]: unknown built-in set "foo" (known: private, local-domains)`},
		},
		{
			name: "disable outside the global set", field: "providers.vt.never_send",
			rs:   RuleSet{Disable: []string{"private"}},
			want: []string{"providers.vt.never_send.disable: only the global never_send may disable built-in sets"},
		},
		{
			name: "suffixes", field: "providers.vt.never_send",
			rs: RuleSet{DomainSuffixes: []string{"", ".", "*.corp.example.com", "corp example.com", "bad!.example",
				"ok.example", "-x.example"}},
			want: []string{
				"providers.vt.never_send.domain_suffixes[0]: must not be empty",
				"providers.vt.never_send.domain_suffixes[1]: must not be empty",
				`providers.vt.never_send.domain_suffixes[2]: "*.corp.example.com": wildcards are not needed; write corp.example.com`,
				`providers.vt.never_send.domain_suffixes[3]: "corp example.com" contains whitespace`,
				`providers.vt.never_send.domain_suffixes[4]: "bad!.example" is not a domain suffix`,
				`providers.vt.never_send.domain_suffixes[6]: "-x.example" is not a domain suffix`,
			},
		},
		{
			name: "email domains", field: "never_send",
			rs: RuleSet{EmailDomains: []string{"alice@corp.example.com", "@corp.example.com", "", "a b"}},
			want: []string{
				`never_send.email_domains[0]: "alice@corp.example.com" is an address`,
				"never_send.email_domains[2]: must not be empty",
				`never_send.email_domains[3]: "a b" contains whitespace`,
			},
		},
		{
			name: "cidrs", field: "never_send",
			rs: RuleSet{CIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.2.3/8"), {}, netip.MustParsePrefix("10.0.0.0/8")}},
			want: []string{
				"never_send.cidrs[0]: 10.1.2.3/8 has host bits set; write 10.0.0.0/8",
				"never_send.cidrs[1]: invalid prefix",
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r, err := Compile(c.field, c.rs, c.builtins)
			require.Nil(t, r)
			var fes FieldErrors
			require.True(t, errors.As(err, &fes), "want FieldErrors, got %T: %v", err, err)
			require.Len(t, fes, len(c.want), "%v", err)
			for i, w := range c.want {
				require.True(t, strings.HasPrefix(fes[i].Error(), w), "problem %d:\n got %q\nwant %q…", i, fes[i].Error(), w)
			}
			var fe *FieldError
			require.ErrorAs(t, err, &fe, "each problem is reachable with errors.As")
		})
	}
}

func TestCompileValid(t *testing.T) {
	t.Parallel()
	r, err := Compile("never_send", RuleSet{
		CIDRs:          []netip.Prefix{netip.MustParsePrefix("::ffff:198.51.100.0/120")},
		DomainSuffixes: []string{".Corp.Example.COM.", "bücher.example", "internal"},
		EmailDomains:   []string{"@mail.example.org"},
		Patterns:       []string{`\Qa)`, `x|y`, `(?i)secret-\d+`},
	}, false)
	require.NoError(t, err)
	for _, c := range []struct {
		raw  string
		hint indicator.Type
		want string
	}{
		// a mapped prefix matches the plain IPv4 address it maps
		{"198.51.100.7", indicator.Auto, "never_send.cidrs[0]"},
		{"::ffff:198.51.100.7", indicator.Auto, "never_send.cidrs[0]"},
		{"198.51.101.7", indicator.Auto, ""},
		// case, leading and trailing dots of the rule do not matter
		{"a.corp.example.com", indicator.Auto, "never_send.domain_suffixes[0]"},
		// Unicode in the rule is compared as punycode, like the indicator
		{"shop.BÜCHER.example", indicator.Domain, "never_send.domain_suffixes[1]"},
		{"shop.xn--bcher-kva.example", indicator.Domain, "never_send.domain_suffixes[1]"},
		// builtins false: no private set, and "internal" is only a rule here
		{"10.0.0.1", indicator.Auto, ""},
		{"host.internal", indicator.Domain, "never_send.domain_suffixes[2]"},
		{"host.local", indicator.Domain, ""},
		{"bob@mail.example.org", indicator.Auto, "never_send.email_domains[0]"},
		// \Q quoting cannot break the anchors
		{"a)", indicator.Username, "never_send.patterns[0]"},
		{"xa)", indicator.Username, ""},
		// alternation is anchored as a whole: x|y is ^(?:x|y)$
		{"x", indicator.Username, "never_send.patterns[1]"},
		{"xz", indicator.Username, ""},
		{"zy", indicator.Username, ""},
		{"SECRET-42", indicator.Username, "never_send.patterns[2]"},
	} {
		t.Run(c.raw, func(t *testing.T) {
			t.Parallel()
			ind, err := indicator.Parse(c.raw, c.hint)
			require.NoError(t, err)
			rule, ok := r.Match(ind)
			require.Equal(t, c.want, rule)
			require.Equal(t, c.want != "", ok)
		})
	}
}

// TestBuiltinsAreTheDocumentedSets guards the sets docs describe: every
// required range is in, and the deliberate exclusions stay out.
func TestBuiltinsAreTheDocumentedSets(t *testing.T) {
	t.Parallel()
	r, err := Compile("never_send", RuleSet{}, true)
	require.NoError(t, err)
	for _, in := range []string{"0.1.2.3", "10.0.0.0", "100.127.255.255", "127.255.0.1", "169.254.0.1", "172.16.0.0",
		"192.168.255.255", "::", "::1", "fc00::1", "fdff::1", "fe80::1", "febf::1", "fec0::1"} {
		rule, ok := r.Match(indicator.Indicator{Value: in, Type: typeOfAddr(in)})
		require.True(t, ok, in)
		require.Equal(t, "never_send.cidrs[private]", rule, in)
	}
	for _, out := range []string{"192.0.0.1", "192.0.2.1", "198.18.0.1", "224.0.0.1", "240.0.0.1",
		"255.255.255.255", "ff02::1", "2001:db8::1", "100.63.255.255", "172.15.255.255", "11.0.0.0"} {
		_, ok := r.Match(indicator.Indicator{Value: out, Type: typeOfAddr(out)})
		require.False(t, ok, out)
	}
	for _, in := range []string{"a.internal", "a.local", "a.lan", "a.localhost"} {
		rule, ok := r.Match(indicator.Indicator{Value: in, Type: indicator.Domain})
		require.True(t, ok, in)
		require.Equal(t, "never_send.domain_suffixes[local-domains]", rule, in)
	}
}

func typeOfAddr(s string) indicator.Type {
	if strings.Contains(s, ":") {
		return indicator.IPv6
	}
	return indicator.IPv4
}
