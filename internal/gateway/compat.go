package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/lookup"
)

// Vendor-compatible routes: /{provider}/… mirrors a vendor's own lookup
// API (a preset's compat block), so that an integration written for the
// vendor — a Cortex analyzer, a MISP module, the vendor's SDK — works by
// changing its base URL to https://gateway/{provider} and its key to a
// gateway token, sent where the vendor's clients send their key.
//
// A route is never a proxy. It is a lookup of one indicator at one
// provider through lookup.Service, exactly as GET /v1/lookup with
// providers={provider} would make it: scopes, limits, the governor, the
// cache, minimisation, validation and the audit all apply, and the
// upstream request is the preset's, built from the normalised indicator.
// Only the listed routes exist; any other path under /{provider}/ is the
// gateway's 404. The client's key and parameters are never forwarded.

// compatGroup is the routes that share a method and path, told apart by
// their fixed parameters (Match).
type compatGroup struct {
	provider string
	compat   *config.Compat
	routes   []config.CompatRoute
}

func (g *Gateway) compatRoutes(handle func(string, http.Handler)) {
	for _, name := range slices.Sorted(maps.Keys(g.compat)) {
		c := g.compat[name]
		if c == nil || (c.Enabled != nil && !*c.Enabled) {
			continue
		}
		groups := map[string]*compatGroup{}
		var order []string
		for _, r := range c.Routes {
			method := r.Method
			if method == "" {
				method = http.MethodGet
			}
			p := "/" + name + r.Path
			if strings.HasSuffix(p, "/") {
				p += "{$}" // exactly this path, not the subtree under it
			}
			pattern := method + " " + p
			if groups[pattern] == nil {
				groups[pattern] = &compatGroup{provider: name, compat: c}
				order = append(order, pattern)
			}
			groups[pattern].routes = append(groups[pattern].routes, r)
		}
		for _, pattern := range order {
			grp := groups[pattern]
			handle(pattern, g.compatKey(c.Key, g.authenticated(http.HandlerFunc(grp.serve(g)))))
		}
	}
}

// compatKey moves the gateway token from where the vendor's clients send
// their key to where the authenticator reads it (Authorization: Bearer),
// and takes it out of the query so nothing downstream — logs, the
// parameter checks — ever sees it. A request without one there keeps its
// own Authorization header: a gateway-aware client may send that.
func (g *Gateway) compatKey(keys []config.CompatKey, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, found := "", false
		var q url.Values
		for _, k := range keys {
			switch k.In {
			case "header":
				vs := r.Header.Values(k.Name)
				if len(vs) == 0 {
					continue
				}
				if len(vs) > 1 {
					writeProblem(w, r, headerProblem(k.Name, fmt.Errorf("sent more than once; send it once")))
					return
				}
				v, ok := strings.CutPrefix(vs[0], k.Prefix)
				if !ok {
					continue
				}
				token, found = v, true
			case "query":
				if q == nil {
					q = r.URL.Query()
				}
				if vs, ok := q[k.Name]; ok {
					if len(vs) > 1 {
						writeProblem(w, r, paramProblem(k.Name, "given more than once; give it once"))
						return
					}
					token, found = vs[0], true
					q.Del(k.Name)
				}
			}
			if found {
				break
			}
		}
		if found {
			r2 := r.Clone(r.Context())
			for _, k := range keys {
				if k.In == "header" {
					r2.Header.Del(k.Name)
				}
			}
			if q != nil {
				u := *r.URL
				u.RawQuery = q.Encode()
				r2.URL = &u
			}
			r2.Header.Set("Authorization", "Bearer "+token)
			r = r2
		}
		next.ServeHTTP(w, r)
	})
}

// compatRequest is what a vendor-shaped request carries: its parameters
// (query, form fields, or top-level JSON fields) and its path value.
type compatRequest struct {
	query url.Values
	form  url.Values
	json  map[string]any
}

func (grp *compatGroup) serve(g *Gateway) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		infoFrom(r.Context()).providers = []string{grp.provider}
		cr, p := readCompat(r)
		if p != nil {
			g.refuseEarly(w, r, "lookup", p)
			return
		}
		route, ok := grp.pick(cr)
		if !ok {
			g.refuseEarly(w, r, "lookup", newProblem(kindNotFound, "no such endpoint (the parameters select no lookup this gateway mirrors)"))
			return
		}
		raw, p := route.indicator(r, cr)
		if p == nil {
			p = route.unknownParams(cr)
		}
		if p != nil {
			g.refuseEarly(w, r, "lookup", p)
			return
		}
		typ := indicator.Auto
		if len(route.Types) == 1 {
			typ = route.Types[0]
		} else if ind, err := indicator.Parse(raw, indicator.Auto); err == nil {
			if !slices.Contains(route.Types, ind.Type) {
				g.refuseEarly(w, r, "lookup", paramProblem(route.indicatorParam(), fmt.Sprintf(
					"is a %s; this endpoint takes %s", ind.Type, typeNames(route.Types))))
				return
			}
			typ = ind.Type
		}
		// Markings and Cache-Control as on every route; the vendor's
		// parameters are not read for refresh=.
		id, refresh, p := requestOptions(r, url.Values{})
		if p != nil {
			g.refuseEarly(w, r, "lookup", p)
			return
		}
		res, err := g.lookups.Lookup(r.Context(), id, lookup.Request{
			Indicator: raw, Type: typ, Providers: []string{grp.provider}, Refresh: refresh})
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
		case lookup.StatusWithheld:
			writeProblem(w, r, newProblem(kindWithheld, fmt.Sprintf("query minimisation keeps this indicator from provider %s (rule %s)", o.Provider, o.Rule)))
			return
		case lookup.StatusNotFound:
			if a := grp.compat.NotFound; a != nil {
				g.writeCompat(w, o, a.Status, []byte(a.Body))
				return
			}
			writeProblem(w, r, newProblem(kindNotFound, fmt.Sprintf("provider %s has no data for this indicator", o.Provider)))
			return
		}
		g.writeCompat(w, o, http.StatusOK, o.Data)
	}
}

// writeCompat writes a vendor-shaped answer with the cache headers of
// /v1/resolve.
func (g *Gateway) writeCompat(w http.ResponseWriter, o lookup.Outcome, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = headerJSON
	switch o.Cache {
	case lookup.CacheHit, lookup.CacheStale:
		h["X-Intelgate-Cache"] = cacheHeader[o.Cache]
		h.Set("Age", fmt.Sprint(max(int64(g.now().Sub(o.FetchedAt).Seconds()), 0)))
	default:
		h["X-Intelgate-Cache"] = cacheHeader[lookup.CacheMiss]
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// readCompat reads a request's parameters: the query always, and a POST's
// form or JSON body (within server.max_body_bytes, once the client is
// known: this runs behind authenticated).
func readCompat(r *http.Request) (compatRequest, *Problem) {
	cr := compatRequest{query: r.URL.Query()}
	if r.Method != http.MethodPost {
		return cr, nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return cr, newProblem(kindRequestTooLarge, "the request body could not be read whole (server.max_body_bytes)")
	}
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "application/json"):
		d := json.NewDecoder(bytes.NewReader(body))
		d.UseNumber()
		if err := d.Decode(&cr.json); err != nil || cr.json == nil || d.More() {
			return cr, paramProblem("body", "is not one JSON object")
		}
	default:
		// Form bodies, as curl -d and the vendors' examples send them,
		// with or without a Content-Type.
		f, err := url.ParseQuery(string(body))
		if err != nil {
			return cr, paramProblem("body", "is not a form (name=value&…)")
		}
		cr.form = f
	}
	return cr, nil
}

// pick is the first route whose fixed parameters the request carries.
func (grp *compatGroup) pick(cr compatRequest) (compatRoute, bool) {
	for _, r := range grp.routes {
		if matchAll(r.Match.Query, func(k string) (string, bool) { return single(cr.query, k) }) &&
			matchAll(r.Match.Form, func(k string) (string, bool) { return single(cr.form, k) }) &&
			matchAll(r.Match.JSON, func(k string) (string, bool) { return jsonField(cr.json, k) }) {
			return compatRoute(r), true
		}
	}
	return compatRoute{}, false
}

func matchAll(want map[string]string, get func(string) (string, bool)) bool {
	for k, v := range want {
		if got, ok := get(k); !ok || got != v {
			return false
		}
	}
	return true
}

func single(vs url.Values, k string) (string, bool) {
	if x := vs[k]; len(x) == 1 {
		return x[0], true
	}
	return "", false
}

// jsonField reads a top-level field by pointer ("/search_term") as a
// string; only strings are indicators or selectors.
func jsonField(m map[string]any, ptr string) (string, bool) {
	name, ok := strings.CutPrefix(ptr, "/")
	if !ok || strings.Contains(name, "/") {
		return "", false
	}
	name = strings.ReplaceAll(strings.ReplaceAll(name, "~1", "/"), "~0", "~")
	s, ok := m[name].(string)
	return s, ok
}

// compatRoute is a config.CompatRoute with its request-reading methods.
type compatRoute config.CompatRoute

func (r compatRoute) indicatorParam() string {
	if f := r.IndicatorFrom; f != nil {
		if f.In == "json" {
			return strings.TrimPrefix(f.Pointer, "/")
		}
		return f.Name
	}
	return "indicator"
}

// indicator is the route's indicator as the vendor's client sent it,
// decoded when the vendor encodes it (VirusTotal's URL identifiers).
func (r compatRoute) indicator(req *http.Request, cr compatRequest) (string, *Problem) {
	var raw string
	var ok bool
	name := r.indicatorParam()
	switch f := r.IndicatorFrom; {
	case f == nil:
		raw, ok = req.PathValue("indicator"), true
	case f.In == "query":
		raw, ok = single(cr.query, f.Name)
	case f.In == "form":
		raw, ok = single(cr.form, f.Name)
	case f.In == "json":
		raw, ok = jsonField(cr.json, f.Pointer)
	}
	if !ok || raw == "" {
		return "", paramProblem(name, "required, once")
	}
	if r.Decode == "base64url" {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(raw, "="))
		if err != nil {
			return "", paramProblem(name, "is not an unpadded base64url identifier")
		}
		raw = string(b)
	}
	return raw, nil
}

// unknownParams refuses a parameter the vendor does not document for this
// route: silently dropping it would answer a different question than the
// one asked. The documented ones (Params) are accepted; the preset's own
// request fixes what is sent upstream.
func (r compatRoute) unknownParams(cr compatRequest) *Problem {
	known := map[string]bool{}
	for _, p := range r.Params {
		known[p] = true
	}
	if f := r.IndicatorFrom; f != nil {
		known[r.indicatorParam()] = true
	}
	for k := range r.Match.Query {
		known[k] = true
	}
	for k := range r.Match.Form {
		known[k] = true
	}
	for k := range r.Match.JSON {
		known[strings.TrimPrefix(k, "/")] = true
	}
	for _, set := range []url.Values{cr.query, cr.form} {
		for _, k := range slices.Sorted(maps.Keys(set)) {
			if !known[k] {
				return paramProblem(k, "is not a parameter this endpoint mirrors")
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(cr.json)) {
		if !known[k] {
			return paramProblem(k, "is not a field this endpoint mirrors")
		}
	}
	return nil
}

func typeNames(ts []indicator.Type) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, " or ")
}
