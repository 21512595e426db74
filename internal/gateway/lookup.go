package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/lookup"
)

// The lookup handlers decode a request, call the lookup service with the
// caller's identity, and encode the outcome. Selection, scope, admission,
// fan-out and what a failure means are the service's (internal/lookup).

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

// handleLookup is GET /v1/lookup: one indicator, every permitted provider
// that supports its type (or those named), each result its own.
func (g *Gateway) handleLookup(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if p := repeatedParam(q, "indicator", "type", "providers"); p != nil {
		writeProblem(w, r, p)
		return
	}
	req := lookup.Request{Indicator: q.Get("indicator"), Type: indicator.Type(q.Get("type"))}
	if q.Has("providers") {
		req.Providers = strings.Split(q.Get("providers"), ",")
	}
	res, err := g.lookups.Lookup(r.Context(), identityFrom(r.Context()), req)
	g.noteLookup(r.Context(), res)
	if err != nil {
		writeProblem(w, r, failureProblem(err))
		return
	}
	results := make([]LookupResult, len(res.Outcomes))
	for i, o := range res.Outcomes {
		results[i] = lookupResult(o)
	}
	writeJSON(w, http.StatusOK, LookupResponse{
		Indicator:  res.Indicator.Raw,
		Type:       res.Indicator.Type,
		Normalized: res.Indicator.Value,
		Results:    results,
	})
}

func lookupResult(o lookup.Outcome) LookupResult {
	out := LookupResult{Provider: o.Provider, Status: string(o.Status)}
	if o.Status == lookup.StatusError {
		p := failureProblem(o.Failure)
		out.Error = &ResultError{Type: p.Type, Title: p.Title, Status: p.Status, Detail: p.Detail, Parameter: p.Parameter}
		return out
	}
	at := o.FetchedAt
	out.FetchedAt = &at
	if o.Status == lookup.StatusOK {
		out.Data = o.Data
	}
	return out
}

// handleResolve is the SocialEye drop-in: same path and parameters, the
// upstream's JSON object returned unchanged once validated.
func (g *Gateway) handleResolve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if p := repeatedParam(q, "query", "type"); p != nil {
		if name := g.lookups.ResolveProvider(); name != "" {
			infoFrom(r.Context()).providers = []string{name}
		}
		writeProblem(w, r, p)
		return
	}
	res, err := g.lookups.Resolve(r.Context(), identityFrom(r.Context()),
		lookup.ResolveRequest{Query: q.Get("query"), UpstreamType: q.Get("type")})
	g.noteLookup(r.Context(), res)
	if err != nil {
		writeProblem(w, r, failureProblem(err))
		return
	}
	o := res.Outcomes[0]
	switch o.Status {
	case lookup.StatusError:
		writeProblem(w, r, failureProblem(o.Failure))
		return
	case lookup.StatusNotFound:
		writeProblem(w, r, newProblem(kindNotFound, fmt.Sprintf("provider %s has no data for this indicator", o.Provider)))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Intelgate-Cache", string(o.Cache))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(o.Data)
}

// noteLookup records what the access log reports about a lookup.
func (g *Gateway) noteLookup(ctx context.Context, res lookup.Result) {
	info := infoFrom(ctx)
	info.providers = res.Providers
	info.indicatorType, info.indicator = string(res.Indicator.Type), res.Indicator.Value
}

// failureKinds is the one mapping from the lookup service's failure kinds
// to the HTTP contract's problem kinds.
var failureKinds = map[lookup.Kind]problemKind{
	lookup.KindInvalidParameter:    kindInvalidParameter,
	lookup.KindUnknownProvider:     kindUnknownProvider,
	lookup.KindUnsupportedType:     kindUnsupportedType,
	lookup.KindForbidden:           kindForbidden,
	lookup.KindNotFound:            kindNotFound,
	lookup.KindRateLimited:         kindRateLimited,
	lookup.KindUpstreamRateLimited: kindUpRateLimited,
	lookup.KindUpstreamTLS:         kindUpTLS,
	lookup.KindUpstreamUnavailable: kindUpUnavailable,
	lookup.KindUpstreamInvalid:     kindUpInvalid,
	lookup.KindUpstreamAuth:        kindUpAuth,
	lookup.KindUpstreamError:       kindUpError,
	lookup.KindUpstreamTimeout:     kindUpTimeout,
	lookup.KindUnavailable:         kindUnavailable,
	lookup.KindInternal:            kindInternal,
	lookup.KindClientClosed:        kindClientClosed,
}

// failureProblem is err (a *lookup.Failure, else an internal error) as the
// problem the client sees.
func failureProblem(err error) *Problem {
	var f *lookup.Failure
	if !errors.As(err, &f) || f == nil {
		return newProblem(kindInternal, "an internal error occurred; quote the request id to your operator")
	}
	k, ok := failureKinds[f.Kind]
	if !ok {
		k = kindInternal
	}
	p := newProblem(k, f.Detail)
	p.Parameter, p.retryAfter = f.Parameter, f.RetryAfter
	return p
}
