package lookup

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/intelgate/intelgate/internal/indicator"
)

// MaxProviders bounds the providers a request may name, before any is
// looked at.
const MaxProviders = 64

// selectProviders resolves the requested providers against the identity's
// scope and the indicator type. Named providers must exist, be permitted
// and support the type; without a list every permitted provider that
// supports the type is used, in configured order.
func (s *Service) selectProviders(requested []string, id Identity, t indicator.Type) ([]string, *Failure) {
	if requested == nil {
		var names []string
		for _, n := range s.order {
			if id.Allows(n) && s.providers[n].Supports(t) {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			return nil, newFailure(KindUnsupportedType, fmt.Sprintf("none of this client's providers supports type %s", t))
		}
		return names, nil
	}
	if len(requested) > MaxProviders {
		return nil, paramFailure("providers", fmt.Sprintf("at most %d providers", MaxProviders))
	}
	var names []string
	seen := map[string]bool{}
	for _, raw := range requested {
		n := strings.TrimSpace(raw)
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		prov, ok := s.providers[n]
		switch {
		case !ok:
			f := newFailure(KindUnknownProvider, fmt.Sprintf("providers: unknown provider %q", n))
			f.Parameter = "providers"
			return nil, f
		case !id.Allows(n):
			return nil, newFailure(KindForbidden, fmt.Sprintf("this client may not use provider %s", n))
		case !prov.Supports(t):
			f := newFailure(KindUnsupportedType, fmt.Sprintf("provider %s does not support type %s", n, t))
			f.Parameter = "providers"
			return nil, f
		}
		names = append(names, n)
	}
	if len(names) == 0 {
		return nil, paramFailure("providers", "must name at least one provider")
	}
	return names, nil
}

// upstreamTypePattern bounds the pass-through type of Resolve: SocialEye's
// own type names are not public beyond "auto", so the client's value is
// forwarded, but only a plain identifier.
var upstreamTypePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

func upstreamType(t string) (string, error) {
	t = strings.ToLower(t)
	if t == "" {
		return "auto", nil
	}
	if !upstreamTypePattern.MatchString(t) {
		return "", errors.New("must be a lowercase identifier such as auto")
	}
	return t, nil
}
