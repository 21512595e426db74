package config

import (
	"fmt"
	"github.com/intelgate/intelgate/internal/callback"
	"maps"
	"regexp"
	"slices"
	"strings"
)

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// client checks one client; tokens maps token hashes seen so far to their
// client, to refuse two clients sharing a token (authentication could not
// tell them apart).
func (v *validator) client(name string, c *Client, tokens map[string]string) {
	f := "clients." + name
	v.name(f, name)
	switch {
	case c.TokenSHA256 == "":
		v.add(f+".token_sha256", "required: the hex SHA-256 printed by `intelgate token new %s`", name)
	case !sha256Hex.MatchString(c.TokenSHA256):
		v.add(f+".token_sha256", "must be 64 hex characters (the SHA-256 of the token, not the token itself)")
	case tokens[c.TokenSHA256] != "":
		v.add(f+".token_sha256", "same token as client %s; every client needs its own token", quote(tokens[c.TokenSHA256]))
	default:
		tokens[c.TokenSHA256] = name
	}
	v.name(f+".environment", c.Environment)
	if len(c.Providers) == 0 {
		v.add(f+".providers", "at least one provider is required")
	}
	for i, pn := range c.Providers {
		pf := fmt.Sprintf("%s.providers[%d]", f, i)
		p, ok := v.cfg.Providers[pn]
		switch {
		case !ok:
			v.add(pf, "undefined provider %s (defined: %s)", quote(pn), quotedList(slices.Sorted(maps.Keys(v.cfg.Providers))))
		case slices.Index(c.Providers, pn) < i:
			v.add(pf, "provider %s listed twice", quote(pn))
		case len(p.Keys) > 0 && len(p.KeysFor(c.Environment)) == 0:
			v.add(pf, "provider %s has no key for environment %s (add a key with environment: %s, or change the client's environment)",
				quote(pn), quote(c.Environment), c.Environment)
		}
	}
	v.prefixes(f+".source_cidrs", c.SourceCIDRs)
	v.limits(f+".limits", c.Limits)
	if c.Limits.MaxWait != 0 {
		v.add(f+".limits.max_wait", "only providers wait for capacity; a client over its own limit is answered 429 at once")
	}
	if cb := c.Callbacks; cb != nil {
		if len(cb.Hosts) == 0 {
			v.add(f+".callbacks.hosts", "at least one host is required (the hosts this client's job callbacks may reach)")
		}
		for i, h := range cb.Hosts {
			if err := (callback.Policy{Hosts: []string{h}}).Validate(); err != nil {
				_, why, _ := strings.Cut(err.Error(), ": ")
				v.add(fmt.Sprintf("%s.callbacks.hosts[%d]", f, i), "%s", why)
			}
		}
		v.secretRef(f+".callbacks.secret", cb.Secret)
		if cb.EventsURL != "" {
			if err := cb.Policy().ValidateURL(cb.EventsURL); err != nil {
				v.add(f+".callbacks.events_url", "%s", strings.TrimPrefix(err.Error(), "callback_url "))
			}
		}
	}
}

// Policy is the callback target policy of these settings.
func (cb *ClientCallbacks) Policy() callback.Policy {
	return callback.Policy{Hosts: cb.Hosts, AllowPlaintext: cb.AllowPlaintext, AllowPrivate: cb.AllowPrivate}
}

func quotedList(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = quote(x)
	}
	return strings.Join(q, ", ")
}

// KeysFor returns the provider's keys for environment env, in config order.
func (p *Provider) KeysFor(env string) []Key {
	var ks []Key
	for _, k := range p.Keys {
		if k.Environment == env {
			ks = append(ks, k)
		}
	}
	return ks
}
