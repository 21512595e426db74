package minimise

import (
	"bytes"
	"fmt"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode"

	"github.com/intelgate/intelgate/internal/indicator"
)

// RuleSet is one never_send block as written in the configuration. It is
// a plain struct (not config.NeverSend) so that this package does not
// import config: config imports minimise to validate with the very code
// that enforces.
type RuleSet struct {
	CIDRs          []netip.Prefix
	DomainSuffixes []string
	EmailDomains   []string
	Patterns       []string
	// Disable names built-in sets to turn off; global rules only.
	Disable []string
}

// Names of the built-in sets, as written under disable and reported in
// rule names ("never_send.cidrs[private]").
const (
	BuiltinPrivate      = "private"
	BuiltinLocalDomains = "local-domains"
)

// privatePrefixes is the built-in set "private": addresses that only mean
// something inside one network, so a vendor can tell nothing about them
// while a query for one tells the vendor about us. Besides the required
// RFC 1918, loopback, link-local, CGNAT (RFC 6598) and IPv6 ULA and
// link-local ranges it holds 0.0.0.0/8 and ::/128 ("this host/network",
// never a destination) and fec0::/10 (deprecated site-local, ULA's
// predecessor, still found in old networks). Left out, on purpose:
// 192.0.0.0/24 (IETF assignments, some globally reachable), multicast
// (group addresses, not hosts), documentation and benchmarking ranges
// (public knowledge) and 240.0.0.0/4; add any of them under cidrs.
var privatePrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("fec0::/10"),
}

// localSuffixes is the built-in set "local-domains": names that resolve
// only inside a network (.internal is ICANN's reserved private TLD, .local
// is mDNS, .lan a common router default) and .localhost, which RFC 6761
// pins to the loopback address: such a name in a query is a leak, never a
// threat a vendor knows about.
var localSuffixes = []string{"internal", "local", "lan", "localhost"}

// Rules is one compiled never_send block. It is immutable once compiled
// and safe for concurrent use.
type Rules struct {
	prefixes []namedPrefix
	// suffixes and mailDomains map a canonical suffix to its rule name; a
	// name is looked up once per label, so the cost does not grow with
	// the number of rules.
	suffixes    map[string]string
	mailDomains map[string]string
	patterns    []namedPattern
}

type namedPrefix struct {
	prefix netip.Prefix
	name   string
}

type namedPattern struct {
	re   *regexp.Regexp
	name string
}

// FieldError is one problem in a rule set or marking, naming its field
// ("never_send.patterns[1]") so the config validator can point at the line.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// FieldErrors is every problem found, in field order; Compile and
// NewPolicy report them all at once.
type FieldErrors []*FieldError

func (l FieldErrors) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap exposes each problem to errors.As.
func (l FieldErrors) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

func (l *FieldErrors) add(field, format string, args ...any) {
	*l = append(*l, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (l FieldErrors) err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// Compile checks and compiles rs. field is the rule set's path in the
// configuration ("never_send", "providers.vt.never_send"); it prefixes
// every rule name and every error. builtins is true for the global set
// only: the built-in sets are added to it unless rs.Disable names them,
// and only it may disable them (a provider cannot loosen what the
// operator withholds from every vendor). The error, when not nil, is a
// FieldErrors.
func Compile(field string, rs RuleSet, builtins bool) (*Rules, error) {
	var errs FieldErrors
	r := &Rules{suffixes: map[string]string{}, mailDomains: map[string]string{}}
	off := disabled(field, rs.Disable, builtins, &errs)
	for i, p := range rs.CIDRs {
		f := fmt.Sprintf("%s.cidrs[%d]", field, i)
		switch {
		case !p.IsValid():
			errs.add(f, "invalid prefix")
		case p.Masked() != p:
			// A typo here would silently widen or narrow what stays inside.
			errs.add(f, "%s has host bits set; write %s", p, p.Masked())
		default:
			r.prefixes = append(r.prefixes, namedPrefix{unmapPrefix(p), f})
		}
	}
	if builtins && !off[BuiltinPrivate] {
		for _, p := range privatePrefixes {
			r.prefixes = append(r.prefixes, namedPrefix{p, field + ".cidrs[" + BuiltinPrivate + "]"})
		}
	}
	suffixes(field+".domain_suffixes", rs.DomainSuffixes, r.suffixes, &errs, false)
	if builtins && !off[BuiltinLocalDomains] {
		for _, s := range localSuffixes {
			if _, dup := r.suffixes[s]; !dup {
				r.suffixes[s] = field + ".domain_suffixes[" + BuiltinLocalDomains + "]"
			}
		}
	}
	suffixes(field+".email_domains", rs.EmailDomains, r.mailDomains, &errs, true)
	for i, p := range rs.Patterns {
		f := fmt.Sprintf("%s.patterns[%d]", field, i)
		re, msg := anchored(p)
		if msg != "" {
			errs.add(f, "%s", msg)
			continue
		}
		r.patterns = append(r.patterns, namedPattern{re, f})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return r, nil
}

// disabled checks the disable list and returns the sets it turns off.
func disabled(field string, names []string, builtins bool, errs *FieldErrors) map[string]bool {
	if len(names) > 0 && !builtins {
		errs.add(field+".disable", "only the global never_send may disable built-in sets")
		return nil
	}
	off := map[string]bool{}
	for i, n := range names {
		if n != BuiltinPrivate && n != BuiltinLocalDomains {
			errs.add(fmt.Sprintf("%s.disable[%d]", field, i), "unknown built-in set %s (known: %s, %s)",
				echo(n), BuiltinPrivate, BuiltinLocalDomains)
			continue
		}
		off[n] = true
	}
	return off
}

// unmapPrefix turns an IPv4-mapped prefix (::ffff:10.0.0.0/104) into its
// IPv4 form: addresses are unmapped before matching, so the mapped form
// would otherwise match nothing.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p
}

// suffixes checks and adds each suffix of list to m, first rule winning.
func suffixes(field string, list []string, m map[string]string, errs *FieldErrors, mail bool) {
	for i, s := range list {
		f := fmt.Sprintf("%s[%d]", field, i)
		c, msg := canonSuffix(s, mail)
		if msg != "" {
			errs.add(f, "%s", msg)
			continue
		}
		if _, dup := m[c]; !dup {
			m[c] = f
		}
	}
}

// canonSuffix returns s in the form the indicator package gives domains
// (lowercase ASCII, Unicode as punycode), so that "Bücher.example" in the
// config matches the indicator "xn--bcher-kva.example". A leading dot
// (and, for e-mail domains, a leading '@') and a trailing dot are
// optional. It returns a problem instead when s is no suffix.
func canonSuffix(s string, mail bool) (string, string) {
	t := s
	if mail {
		if strings.Contains(strings.TrimPrefix(t, "@"), "@") {
			return "", fmt.Sprintf("%s is an address; email_domains takes domains such as corp.example.com "+
				"(put single addresses under patterns)", echo(s))
		}
		t = strings.TrimPrefix(t, "@")
	}
	t = strings.TrimSuffix(strings.TrimPrefix(t, "."), ".")
	switch {
	case t == "":
		return "", "must not be empty"
	case strings.Contains(t, "*"):
		return "", fmt.Sprintf("%s: wildcards are not needed; write %s, which already covers every name below it",
			echo(s), strings.TrimLeft(t, "*."))
	case strings.IndexFunc(t, unicode.IsSpace) >= 0:
		return "", fmt.Sprintf("%s contains whitespace", echo(s))
	}
	// Parse wants two labels; "x." lets a one-label suffix ("internal")
	// through the same rules as every domain.
	ind, err := indicator.Parse("x."+t, indicator.Domain)
	if err != nil {
		return "", fmt.Sprintf("%s is not a domain suffix: want dot-separated labels of letters, digits, '-' "+
			"and '_', such as corp.example.com", echo(s))
	}
	return strings.TrimPrefix(ind.Value, "x."), ""
}

// anchored compiles p to match whole values only. It anchors the parsed
// expression rather than the text: wrapping the text in ^(?:…)$ breaks on
// a pattern such as `\Qa)` whose quoting swallows the closing parenthesis.
func anchored(p string) (*regexp.Regexp, string) {
	if p == "" {
		return nil, "must not be empty (it could only match an empty value)"
	}
	re, err := syntax.Parse(p, syntax.Perl)
	if err != nil {
		return nil, "invalid regular expression: " + err.Error()
	}
	whole := &syntax.Regexp{Op: syntax.OpConcat, Flags: syntax.Perl, Sub: []*syntax.Regexp{
		{Op: syntax.OpBeginText}, re, {Op: syntax.OpEndText},
	}}
	c, err := regexp.Compile(whole.String())
	if err != nil {
		return nil, "invalid regular expression: " + err.Error()
	}
	return c, ""
}

// Match reports the first rule of r that ind falls under. Check is the
// usual entry point; Match judges one rule set alone.
func (r *Rules) Match(ind indicator.Indicator) (rule string, ok bool) {
	v := verdict{global: r}
	v.judge(ind)
	return v.rule, v.found
}

// match tries the rules on one subject from cheapest to dearest: prefixes
// (in rule order, each against every address), suffixes (one map lookup
// per label), then patterns.
func (r *Rules) match(s *subjects) (string, bool) {
	if s.naddr > 0 {
		addrs := s.addrs[:s.naddr]
		for _, p := range r.prefixes {
			for _, a := range addrs {
				if p.prefix.Contains(a) {
					return p.name, true
				}
			}
		}
	}
	if name, ok := lookupSuffix(r.suffixes, s.domain); ok {
		return name, true
	}
	if name, ok := lookupSuffix(r.mailDomains, s.mail); ok {
		return name, true
	}
	if len(r.patterns) == 0 {
		return "", false
	}
	h0, h1 := s.hosts[0], s.hosts[1]
	for _, p := range r.patterns {
		if s.value != "" && p.re.MatchString(s.value) ||
			h0 != "" && h0 != s.value && p.re.MatchString(h0) ||
			h1 != "" && h1 != s.value && h1 != h0 && p.re.MatchString(h1) {
			return p.name, true
		}
	}
	return "", false
}

// lookupSuffix finds d or its nearest parent in m, so corp.example.com
// covers a.corp.example.com but, on label boundaries, not
// evilcorp.example.com. ASCII case is folded (the keys are lower case).
// Substrings of d, or of its lower-case copy on the stack, are looked up
// without allocating.
func lookupSuffix(m map[string]string, d string) (string, bool) {
	if d == "" || len(m) == 0 {
		return "", false
	}
	upper := false
	for i := 0; i < len(d) && !upper; i++ {
		upper = 'A' <= d[i] && d[i] <= 'Z'
	}
	if !upper {
		for {
			if name, ok := m[d]; ok {
				return name, true
			}
			i := strings.IndexByte(d, '.')
			if i < 0 {
				return "", false
			}
			d = d[i+1:]
		}
	}
	var buf [256]byte
	if len(d) > len(buf) {
		return lookupSuffix(m, strings.ToLower(d))
	}
	b := buf[:len(d)]
	for i := 0; i < len(d); i++ {
		c := d[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	for {
		if name, ok := m[string(b)]; ok { // no conversion is made for a map index
			return name, true
		}
		i := bytes.IndexByte(b, '.')
		if i < 0 {
			return "", false
		}
		b = b[i+1:]
	}
}
