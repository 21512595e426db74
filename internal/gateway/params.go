package gateway

import (
	"net/url"
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

func paramProblem(param, detail string) *Problem {
	p := newProblem(kindInvalidParameter, param+": "+detail)
	p.Parameter = param
	return p
}
