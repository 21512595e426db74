package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/lookup"
	"github.com/intelgate/intelgate/internal/minimise"
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
	Provider string `json:"provider"`
	Status   string `json:"status"` // ok | not_found | error | withheld
	// Cached: the answer came from the cache; Stale: past its TTL, served
	// because the provider could not answer.
	Cached    bool            `json:"cached"`
	Stale     bool            `json:"stale"`
	FetchedAt *time.Time      `json:"fetched_at"` // when the upstream answered; null on error and withheld
	Data      json.RawMessage `json:"data"`       // null unless ok
	Error     *ResultError    `json:"error"`      // null unless error
	// Rule names the query-minimisation rule that withheld the indicator
	// from this provider (never the value).
	Rule string `json:"rule,omitempty"`
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
	if p := repeatedParam(q, "indicator", "type", "providers", "refresh"); p != nil {
		g.refuseEarly(w, r, "lookup", p)
		return
	}
	id, refresh, p := requestOptions(r, q)
	if p != nil {
		g.refuseEarly(w, r, "lookup", p)
		return
	}
	req := lookup.Request{Indicator: q.Get("indicator"), Type: indicator.Type(q.Get("type")), Refresh: refresh}
	if q.Has("providers") {
		req.Providers = strings.Split(q.Get("providers"), ",")
	}
	res, err := g.lookups.Lookup(r.Context(), id, req)
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
	switch o.Status {
	case lookup.StatusError:
		p := failureProblem(o.Failure)
		out.Error = &ResultError{Type: p.Type, Title: p.Title, Status: p.Status, Detail: p.Detail, Parameter: p.Parameter}
		return out
	case lookup.StatusWithheld:
		out.Rule = o.Rule
		return out
	}
	out.Cached = o.Cache == lookup.CacheHit || o.Cache == lookup.CacheStale
	out.Stale = o.Cache == lookup.CacheStale
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
	p := repeatedParam(q, "query", "type", "refresh")
	id, refresh, perr := requestOptions(r, q)
	if p == nil {
		p = perr
	}
	if p != nil {
		if name := g.lookups.ResolveProvider(); name != "" {
			infoFrom(r.Context()).providers = []string{name}
		}
		g.refuseEarly(w, r, "resolve", p)
		return
	}
	res, err := g.lookups.Resolve(r.Context(), id,
		lookup.ResolveRequest{Query: q.Get("query"), UpstreamType: q.Get("type"), Refresh: refresh})
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
	h["Content-Type"] = headerJSON
	switch o.Cache {
	case lookup.CacheHit, lookup.CacheStale:
		h["X-Intelgate-Cache"] = cacheHeader[o.Cache]
		h["Age"] = []string{strconv.FormatInt(max(int64(g.now().Sub(o.FetchedAt)/time.Second), 0), 10)}
	default:
		h["X-Intelgate-Cache"] = cacheHeader[lookup.CacheMiss]
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(o.Data)
}

// cacheHeader holds X-Intelgate-Cache's values, allocated once: a bypass
// and an uncached provider are misses to the client.
var cacheHeader = map[lookup.CacheState][]string{
	lookup.CacheHit: {"hit"}, lookup.CacheStale: {"stale"}, lookup.CacheMiss: {"miss"},
}

// Request headers a lookup reads besides its parameters.
const (
	headerTLP = "X-Intelgate-Tlp"
	headerPAP = "X-Intelgate-Pap"
)

// requestOptions completes the caller's identity with the request's own
// markings (X-Intelgate-TLP / X-Intelgate-PAP, else the client's
// defaults) and reads whether it asks past the cache (refresh=true; or
// Cache-Control: no-cache from a client with allow_refresh).
func requestOptions(r *http.Request, q url.Values) (lookup.Identity, bool, *Problem) {
	id := identityFrom(r.Context())
	if v, ok := singleHeader(r.Header, headerTLP); ok {
		t, err := minimise.ParseTLP(v)
		if err != nil {
			return id, false, headerProblem("X-Intelgate-TLP", err)
		}
		id.Markings.TLP = t
	} else if len(r.Header[headerTLP]) > 1 {
		return id, false, headerProblem("X-Intelgate-TLP", errors.New("sent more than once; send it once"))
	}
	if v, ok := singleHeader(r.Header, headerPAP); ok {
		pp, err := minimise.ParsePAP(v)
		if err != nil {
			return id, false, headerProblem("X-Intelgate-PAP", err)
		}
		id.Markings.PAP = pp
	} else if len(r.Header[headerPAP]) > 1 {
		return id, false, headerProblem("X-Intelgate-PAP", errors.New("sent more than once; send it once"))
	}
	refresh := false
	if q.Has("refresh") {
		switch q.Get("refresh") {
		case "true", "1":
			refresh = true
		case "false", "0":
		default:
			p := newProblem(kindInvalidParameter, "refresh: must be true or false")
			p.Parameter = "refresh"
			return id, false, p
		}
	}
	// Cache-Control: no-cache is honoured for clients that may refresh and
	// ignored for the others: HTTP libraries and proxies add it on their
	// own, and a drop-in must not start failing behind one. refresh=true
	// is the client's explicit ask, refused when not allowed.
	if id.AllowRefresh {
		for _, v := range r.Header["Cache-Control"] {
			for d := range strings.SplitSeq(v, ",") {
				if strings.EqualFold(strings.TrimSpace(d), "no-cache") {
					refresh = true
				}
			}
		}
	}
	return id, refresh, nil
}

func singleHeader(h http.Header, name string) (string, bool) {
	if v := h[name]; len(v) == 1 {
		return v[0], true
	}
	return "", false
}

func headerProblem(name string, err error) *Problem {
	p := newProblem(kindInvalidParameter, name+": "+err.Error())
	p.Parameter = name
	return p
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
	lookup.KindWithheld:            kindWithheld,
	lookup.KindRefreshForbidden:    kindRefreshForbidden,
	lookup.KindAdminRequired:       kindAdminRequired,
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

// refuseEarly answers a lookup or resolve refused before the lookup
// service saw it (a repeated parameter, a bad marking header) and records
// it like the service records its own refusals.
func (g *Gateway) refuseEarly(w http.ResponseWriter, r *http.Request, op string, p *Problem) {
	if g.audit != nil {
		g.audit.Refused(identityFrom(r.Context()), op, strings.TrimPrefix(p.Type, problemBase))
	}
	writeProblem(w, r, p)
}
