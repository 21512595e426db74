package config

import (
	"errors"
	"maps"
	"slices"

	"github.com/intelgate/intelgate/internal/minimise"
)

// minimise checks query minimisation: the global and per-provider
// never_send rules and max_tlp / max_pap, by building the very policy the
// gateway enforces (so the two cannot disagree on what is valid), and each
// client's default_tlp / default_pap.
func (v *validator) minimise() {
	c := v.cfg
	_, err := minimise.NewPolicy(c.NeverSend.RuleSet(), c.minimiseProviders())
	var fes minimise.FieldErrors
	switch {
	case err == nil:
	case errors.As(err, &fes):
		for _, fe := range fes {
			v.add(fe.Field, "%s", fe.Msg)
		}
	default:
		v.add("never_send", "%s", err)
	}
	for _, name := range slices.Sorted(maps.Keys(c.Clients)) {
		cl := c.Clients[name]
		if cl == nil {
			continue
		}
		f := "clients." + name
		if cl.DefaultTLP != "" {
			if _, err := minimise.ParseTLP(cl.DefaultTLP); err != nil {
				v.add(f+".default_tlp", "%s", err)
			}
		}
		if cl.DefaultPAP != "" {
			if _, err := minimise.ParsePAP(cl.DefaultPAP); err != nil {
				v.add(f+".default_pap", "%s", err)
			}
		}
	}
}
