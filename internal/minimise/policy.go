// Package minimise decides which indicators may leave the gateway for
// which provider: query minimisation. An indicator is withheld when its
// request's TLP 2.0 or PAP marking is above what the provider may receive
// (as Cortex and IntelOwl refuse an analyzer an observable above its
// TLP/PAP), or when it falls under a never_send rule: an internal address,
// an internal name, a pattern. A lookup is itself a disclosure — vendors
// keep, and some share, what they are asked — so the one check every
// upstream call passes through lives here, built once from the
// configuration and immutable after.
//
// The package takes plain inputs (RuleSet, ProviderRules) and does not
// import config; config imports it, validating with the same code that
// enforces, and adapts its types (config.Config.MinimisePolicy).
package minimise

import (
	"fmt"
	"maps"
	"slices"

	"github.com/intelgate/intelgate/internal/indicator"
)

// Rule names Check reports besides the never_send ones.
const (
	RuleTLP = "tlp"
	RulePAP = "pap"
	// RuleUnknownProvider is reported for a provider the policy was not
	// built with: failing closed means a wiring mistake cannot bypass a
	// provider's own rules and limits.
	RuleUnknownProvider = "unknown_provider"
)

// ProviderRules is one provider's part of the configuration.
type ProviderRules struct {
	// MaxTLP and MaxPAP are the highest markings the provider may
	// receive; empty means DefaultTLP / DefaultPAP.
	MaxTLP, MaxPAP string
	// NeverSend adds to the global rules; it may not disable built-ins.
	NeverSend RuleSet
}

// Policy is the compiled minimisation policy. It is immutable and safe for
// concurrent use; a configuration reload builds a new one.
type Policy struct {
	global    *Rules
	providers map[string]providerPolicy
}

type providerPolicy struct {
	maxTLP TLP
	maxPAP PAP
	rules  *Rules
}

// NewPolicy compiles the global rule set (with the built-in sets it does
// not disable) and each provider's limits and rules. Fields in errors are
// configuration paths ("providers.vt.max_tlp"); the error, when not nil,
// is a FieldErrors holding every problem.
func NewPolicy(global RuleSet, providers map[string]ProviderRules) (*Policy, error) {
	var errs FieldErrors
	p := &Policy{providers: make(map[string]providerPolicy, len(providers))}
	g, err := Compile("never_send", global, true)
	errs.collect(err)
	p.global = g
	for _, name := range slices.Sorted(maps.Keys(providers)) {
		pr := providers[name]
		f := "providers." + name
		pp := providerPolicy{maxTLP: DefaultTLP, maxPAP: DefaultPAP}
		if pr.MaxTLP != "" {
			t, err := ParseTLP(pr.MaxTLP)
			if err != nil {
				errs.add(f+".max_tlp", "%s", err)
			}
			pp.maxTLP = t
		}
		if pr.MaxPAP != "" {
			v, err := ParsePAP(pr.MaxPAP)
			if err != nil {
				errs.add(f+".max_pap", "%s", err)
			}
			pp.maxPAP = v
		}
		r, err := Compile(f+".never_send", pr.NeverSend, false)
		errs.collect(err)
		pp.rules = r
		p.providers[name] = pp
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return p, nil
}

// collect adds the problems of a Compile error.
func (l *FieldErrors) collect(err error) {
	switch e := err.(type) {
	case nil:
	case FieldErrors:
		*l = append(*l, e...)
	default:
		l.add("", "%s", fmt.Sprint(err))
	}
}

// Check reports whether ind, marked m, must be withheld from provider,
// and by which rule: "tlp", "pap", then the global never_send rules, then
// the provider's ("never_send.cidrs[private]",
// "providers.vt.never_send.patterns[1]"). The rule name never holds the
// indicator, so it may be logged and returned to the client. Unset
// markings are judged as DefaultTLP / DefaultPAP.
//
// Every name and address the value (and the raw input, when it differs)
// could lead a client to is judged, whatever the claimed type: see
// subjects.go. The global rules win over the provider's whichever part of
// the value they match.
//
// It allocates nothing for a plain address, domain, e-mail address, hash
// or username that is not withheld: every upstream call passes through it.
func (p *Policy) Check(provider string, m Markings, ind indicator.Indicator) (rule string, withheld bool) {
	pp, ok := p.providers[provider]
	if !ok {
		return RuleUnknownProvider, true
	}
	if m.TLP.orDefault() > pp.maxTLP {
		return RuleTLP, true
	}
	if m.PAP.orDefault() > pp.maxPAP {
		return RulePAP, true
	}
	v := verdict{global: p.global, provider: pp.rules}
	v.judge(ind)
	return v.rule, v.found
}

// Limits returns the highest markings provider may receive, false for a
// provider the policy does not know.
func (p *Policy) Limits(provider string) (Markings, bool) {
	pp, ok := p.providers[provider]
	return Markings{TLP: pp.maxTLP, PAP: pp.maxPAP}, ok
}
