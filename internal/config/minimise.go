package config

import (
	"github.com/intelgate/intelgate/internal/minimise"
)

// This file adapts config's types to minimise's plain inputs. config
// imports minimise (never the reverse), so validation and enforcement run
// the same code: a file that loads builds a policy that works.

// RuleSet returns n as minimise takes it.
func (n NeverSend) RuleSet() minimise.RuleSet {
	return minimise.RuleSet{
		CIDRs:          n.CIDRs,
		DomainSuffixes: n.DomainSuffixes,
		EmailDomains:   n.EmailDomains,
		Patterns:       n.Patterns,
		Disable:        n.Disable,
	}
}

// minimiseProviders returns every provider's limits and own rules.
func (c *Config) minimiseProviders() map[string]minimise.ProviderRules {
	ps := make(map[string]minimise.ProviderRules, len(c.Providers))
	for name, p := range c.Providers {
		if p == nil {
			continue // left out, so Check fails closed for it
		}
		pr := minimise.ProviderRules{MaxTLP: p.MaxTLP, MaxPAP: p.MaxPAP}
		if p.NeverSend != nil {
			pr.NeverSend = p.NeverSend.RuleSet()
		}
		ps[name] = pr
	}
	return ps
}

// MinimisePolicy builds the query-minimisation policy of c: the global
// never_send rules (with the built-in sets not disabled) and each
// provider's max_tlp, max_pap and never_send. A loaded config has been
// validated with the same code, so this fails only for a Config built in
// code and not validated.
func (c *Config) MinimisePolicy() (*minimise.Policy, error) {
	return minimise.NewPolicy(c.NeverSend.RuleSet(), c.minimiseProviders())
}

// Markings returns the markings of a request from c that carries no
// X-Intelgate-TLP / X-Intelgate-PAP header: default_tlp and default_pap,
// or amber where unset.
func (c *Client) Markings() (minimise.Markings, error) {
	return minimise.DefaultMarkings(c.DefaultTLP, c.DefaultPAP)
}
