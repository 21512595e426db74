package gateway

import (
	"maps"
	"net/url"
	"slices"
	"strings"
)

// repeatedParam refuses a single-valued parameter given more than once.
// Silently taking the first (as url.Values.Get does) makes the request
// ambiguous: a proxy, WAF or audit reader that takes the last value sees a
// different indicator from the one looked up. A list parameter (providers)
// is one comma-separated value, so repeating it is refused too, with a hint.
func repeatedParam(q url.Values, names ...string) *Problem {
	for _, n := range names {
		if len(q[n]) > 1 {
			detail := "given more than once; send it once"
			if n == "providers" {
				detail = "given more than once; send one comma-separated list: providers=a,b"
			}
			return paramProblem(n, detail)
		}
	}
	return nil
}

// unknownParam refuses a parameter the endpoint does not take: a typo
// (clinet=) silently ignored would widen the answer.
func unknownParam(q url.Values, known ...string) *Problem {
	for _, n := range slices.Sorted(maps.Keys(q)) {
		if !slices.Contains(known, n) {
			return paramProblem(n, "unknown parameter; this endpoint takes "+strings.Join(known, ", "))
		}
	}
	return nil
}

func paramProblem(param, detail string) *Problem {
	p := newProblem(kindInvalidParameter, param+": "+detail)
	p.Parameter = param
	return p
}
