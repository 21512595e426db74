package provider

import (
	"fmt"

	"github.com/intelgate/intelgate/internal/indicator"
)

// typeSet is the indicator types a provider answers for; nil means every
// type. Asking a provider about a type it does not cover would only spend
// quota on a guaranteed "no data".
type typeSet map[indicator.Type]struct{}

// newTypeSet checks the configured list. Type names themselves are the
// config package's to validate; here only "auto", which is a request mode
// and never a detected type, is refused.
func newTypeSet(types []indicator.Type) (typeSet, error) {
	if len(types) == 0 {
		return nil, nil
	}
	set := make(typeSet, len(types))
	for i, t := range types {
		if t == "" || t == indicator.Auto {
			return nil, fmt.Errorf("types[%d]: %q is not an indicator type", i, t)
		}
		set[t] = struct{}{}
	}
	return set, nil
}

func (s typeSet) supports(t indicator.Type) bool {
	if t == "" || t == indicator.Auto {
		return false
	}
	if s == nil {
		return true
	}
	_, ok := s[t]
	return ok
}
