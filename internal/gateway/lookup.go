package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/provider"
)

// LookupResponse is the body of GET /v1/lookup.
type LookupResponse struct {
	Indicator  string         `json:"indicator"`
	Type       indicator.Type `json:"type"`
	Normalized string         `json:"normalized"`
	Results    []LookupResult `json:"results"`
}

// LookupResult is one provider's part of a lookup.
type LookupResult struct {
	Provider  string          `json:"provider"`
	Status    string          `json:"status"` // ok | not_found | error
	Cached    bool            `json:"cached"`
	Stale     bool            `json:"stale"`
	FetchedAt *time.Time      `json:"fetched_at"` // null on error
	Data      json.RawMessage `json:"data"`       // null unless ok
	Error     *ResultError    `json:"error"`      // null unless error
}

// ResultError is a per-provider failure, shaped like a problem object.
type ResultError struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Parameter names the request parameter this provider could not use
	// (an indicator it cannot place safely), as on a 400 problem.
	Parameter string `json:"parameter,omitempty"`
}

// resultError is p as one provider's part of a lookup.
func resultError(p *Problem) *ResultError {
	return &ResultError{Type: p.Type, Title: p.Title, Status: p.Status, Detail: p.Detail, Parameter: p.Parameter}
}

// maxProvidersParam bounds the providers= list before we look at it.
const maxProvidersParam = 64

// handleLookup fans one indicator out to every permitted provider that
// supports its type, concurrently. A provider's failure is reported in its
// own result; the request as a whole succeeds.
func (g *Gateway) handleLookup(w http.ResponseWriter, r *http.Request) {
	info := infoFrom(r.Context())
	client := clientFrom(r.Context())
	q := r.URL.Query()
	if p := repeatedParam(q, "indicator", "type", "providers"); p != nil {
		writeProblem(w, r, p)
		return
	}
	hint, err := indicator.ParseType(q.Get("type"))
	if err != nil {
		writeProblem(w, r, paramProblem("type", err.Error()))
		return
	}
	ind, err := indicator.Parse(q.Get("indicator"), hint)
	if err != nil {
		writeProblem(w, r, paramProblem("indicator", err.Error()))
		return
	}
	info.indicatorType, info.indicator = string(ind.Type), ind.Value

	names, p := g.selectProviders(q.Get("providers"), q.Has("providers"), client.Allows, ind.Type)
	if p != nil {
		writeProblem(w, r, p)
		return
	}
	info.providers = names
	if !g.admit(w, r) {
		return
	}

	results := make([]LookupResult, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			// A panic in this goroutine is beyond the middleware's recover
			// and would end the process; it becomes this provider's error.
			defer func() {
				if v := recover(); v != nil {
					g.log.Error("panic in provider lookup", "provider", name, "request_id", requestID(r.Context()),
						"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
					p := newProblem(kindInternal, "an internal error occurred; quote the request id to your operator")
					results[i] = LookupResult{Provider: name, Status: "error",
						Error: resultError(p)}
				}
			}()
			results[i] = g.lookupOne(r, name, ind)
		})
	}
	wg.Wait()
	writeJSON(w, http.StatusOK, LookupResponse{
		Indicator:  ind.Raw,
		Type:       ind.Type,
		Normalized: ind.Value,
		Results:    results,
	})
}

func (g *Gateway) lookupOne(r *http.Request, name string, ind indicator.Indicator) LookupResult {
	res, p := g.call(r.Context(), name, clientFrom(r.Context()), provider.Request{Indicator: ind})
	out := LookupResult{Provider: name}
	switch {
	case p != nil:
		out.Status = "error"
		out.Error = resultError(p)
	case res.NotFound:
		now := g.now().UTC()
		out.Status, out.FetchedAt = "not_found", &now
	default:
		now := g.now().UTC()
		out.Status, out.FetchedAt, out.Data = "ok", &now, res.Data
	}
	return out
}

// selectProviders resolves the providers= parameter against the client's
// scope and the indicator type. Named providers must exist (400), be
// permitted (403) and support the type (400); without the parameter every
// permitted provider that supports the type is used.
func (g *Gateway) selectProviders(param string, given bool, allows func(string) bool, t indicator.Type) ([]string, *Problem) {
	if !given {
		var names []string
		for _, n := range g.order {
			if allows(n) && g.providers[n].Supports(t) {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			return nil, newProblem(kindUnsupportedType, fmt.Sprintf("none of this client's providers supports type %s", t))
		}
		return names, nil
	}
	parts := strings.Split(param, ",")
	if len(parts) > maxProvidersParam {
		p := paramProblem("providers", fmt.Sprintf("at most %d providers", maxProvidersParam))
		return nil, p
	}
	var names []string
	seen := map[string]bool{}
	for _, raw := range parts {
		n := strings.TrimSpace(raw)
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		prov, ok := g.providers[n]
		switch {
		case !ok:
			p := newProblem(kindUnknownProvider, fmt.Sprintf("providers: unknown provider %q", n))
			p.Parameter = "providers"
			return nil, p
		case !allows(n):
			return nil, newProblem(kindForbidden, fmt.Sprintf("this client may not use provider %s", n))
		case !prov.Supports(t):
			p := newProblem(kindUnsupportedType, fmt.Sprintf("provider %s does not support type %s", n, t))
			p.Parameter = "providers"
			return nil, p
		}
		names = append(names, n)
	}
	if len(names) == 0 {
		return nil, paramProblem("providers", "must name at least one provider")
	}
	return names, nil
}
