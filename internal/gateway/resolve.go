package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/provider"
	"github.com/intelgate/intelgate/internal/upstream"
)

// upstreamTypePattern bounds the pass-through type parameter of /v1/resolve:
// SocialEye's own type names are not public beyond "auto", so we forward the
// client's value, but only a plain identifier.
var upstreamTypePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// handleResolve is the SocialEye drop-in: same path and parameters, the
// upstream's JSON object returned unchanged once validated.
func (g *Gateway) handleResolve(w http.ResponseWriter, r *http.Request) {
	info := infoFrom(r.Context())
	if g.resolveProvider == "" {
		writeProblem(w, r, newProblem(kindNotFound, "no socialeye provider is configured for /v1/resolve"))
		return
	}
	name := g.resolveProvider
	info.providers = []string{name}
	client := clientFrom(r.Context())
	if !client.Allows(name) {
		writeProblem(w, r, newProblem(kindForbidden, fmt.Sprintf("client %s may not use provider %s", client.Name, name)))
		return
	}
	q := r.URL.Query()
	if p := repeatedParam(q, "query", "type"); p != nil {
		writeProblem(w, r, p)
		return
	}
	typ := strings.ToLower(q.Get("type"))
	if typ == "" {
		typ = "auto"
	}
	if !upstreamTypePattern.MatchString(typ) {
		writeProblem(w, r, paramProblem("type", "must be a lowercase identifier such as auto"))
		return
	}
	// A drop-in forwards what the client asked, as SocialEye would see it:
	// only our input safety checks apply (size, UTF-8, control characters).
	// Detection runs for the access log's type; a value we cannot classify
	// (a full name, a CIDR) is still a valid SocialEye query.
	query, err := indicator.CheckInput(q.Get("query"))
	if err != nil {
		writeProblem(w, r, paramProblem("query", err.Error()))
		return
	}
	ind := indicator.Indicator{Raw: q.Get("query"), Value: query, Type: indicator.Username}
	if parsed, err := indicator.Parse(query, indicator.Auto); err == nil {
		ind.Type = parsed.Type
	}
	info.indicatorType, info.indicator = string(ind.Type), ind.Value

	if !g.admit(w, r) {
		return
	}
	res, err := g.caller.Call(r.Context(), name, client.Environment, provider.Request{Indicator: ind, UpstreamType: typ, Client: client.Name})
	var ue *upstream.Error
	switch {
	case errors.As(err, &ue) && ue.Kind == upstream.KindRejected && ue.Status == http.StatusBadRequest:
		// On a pass-through the client's own parameters went upstream: a
		// 400 from SocialEye is the client's to fix, not an outage.
		writeProblem(w, r, paramProblem("type", "provider "+name+" rejected the request's parameters (400 Bad Request); check query and type"))
		return
	case err != nil:
		writeProblem(w, r, g.upstreamProblem(r.Context(), name, err))
		return
	}
	if res.NotFound {
		writeProblem(w, r, newProblem(kindNotFound, fmt.Sprintf("provider %s has no data for this indicator", name)))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Intelgate-Cache", "miss")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(res.Data)
}

func paramProblem(param, detail string) *Problem {
	p := newProblem(kindInvalidParameter, param+": "+detail)
	p.Parameter = param
	return p
}
