package minimise_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/minimise"
)

// TestConfigAdapter checks config's conversion end to end: what a config
// says under never_send, max_tlp and default_tlp is what Check enforces.
// (An external test package: config imports minimise, not the reverse.)
func TestConfigAdapter(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.NeverSend = config.NeverSend{
		CIDRs:   []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")},
		Disable: []string{minimise.BuiltinLocalDomains},
	}
	cfg.Providers = map[string]*config.Provider{
		"vt":   {MaxTLP: "green", NeverSend: &config.NeverSend{EmailDomains: []string{"corp.example.com"}}},
		"open": {MaxTLP: "red", MaxPAP: "red"},
		"nil":  nil,
	}
	p, err := cfg.MinimisePolicy()
	require.NoError(t, err)

	client := &config.Client{DefaultTLP: "amber+strict"}
	m, err := client.Markings()
	require.NoError(t, err)
	require.Equal(t, minimise.Markings{TLP: minimise.TLPAmberStrict, PAP: minimise.DefaultPAP}, m)
	unset, err := (&config.Client{}).Markings()
	require.NoError(t, err)
	require.Equal(t, minimise.Markings{TLP: minimise.TLPAmber, PAP: minimise.PAPAmber}, unset)

	green := minimise.Markings{TLP: minimise.TLPGreen, PAP: minimise.PAPGreen}
	for _, c := range []struct {
		provider, raw string
		m             minimise.Markings
		want          string
	}{
		{"vt", "198.51.100.1", green, "never_send.cidrs[0]"},
		{"vt", "10.0.0.1", green, "never_send.cidrs[private]"},
		{"vt", "alice@corp.example.com", green, "providers.vt.never_send.email_domains[0]"},
		{"vt", "8.8.8.8", green, ""},
		{"vt", "8.8.8.8", unset, minimise.RuleTLP},
		{"open", "8.8.8.8", minimise.Markings{TLP: minimise.TLPRed, PAP: minimise.PAPRed}, ""},
		{"open", "alice@corp.example.com", green, ""},
		{"nil", "8.8.8.8", green, minimise.RuleUnknownProvider},
	} {
		ind, err := indicator.Parse(c.raw, indicator.Auto)
		require.NoError(t, err)
		rule, _ := p.Check(c.provider, c.m, ind)
		require.Equal(t, c.want, rule, "%s to %s", c.raw, c.provider)
	}
	host, err := indicator.Parse("host.internal", indicator.Domain)
	require.NoError(t, err)
	_, withheld := p.Check("vt", green, host)
	require.False(t, withheld, "disable: [local-domains] is honoured")

	cfg.Providers["vt"].MaxPAP = "purple"
	_, err = cfg.MinimisePolicy()
	require.ErrorContains(t, err, `providers.vt.max_pap: invalid PAP "purple"`)
}
