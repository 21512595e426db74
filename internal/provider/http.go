package provider

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/upstream"
)

var _ Provider = (*HTTP)(nil)

// Key placements (config auth.in).
const (
	AuthBearer = "bearer"
	AuthHeader = "header"
	AuthQuery  = "query"
)

// HTTP is the declarative provider: one templated request per lookup,
// described entirely by config (kind: http), so a new threat-intel API is a
// config change and a review, not a code change. The request is one call
// for every type, or one call per indicator type (request.endpoints).
type HTTP struct {
	name string
	base *url.URL
	// With auth in: query, keyParam is the key's "name=".
	keyParam string
	header   http.Header // static headers, already validated
	auth     auth
	types    typeSet
	doer     Doer
	check    *authCheck
	// notFound is the request's not-found statuses (for the auth check).
	notFound []int
	// one is the single call of a request without endpoints; byType the
	// calls of one with them.
	one    *endpoint
	byType map[indicator.Type]*endpoint
}

// endpoint is one validated call: method, path, query and how a POST
// carries the query, and how its answer is judged.
type endpoint struct {
	method string
	path   template
	query  []queryParam // sorted by name: the wire form is deterministic
	// keyAt is the key's place among query in name order (auth in: query).
	keyAt      int
	json       bool // a POST body of JSON string fields instead of a form
	b64        bool // a template uses {indicator_base64url}
	validation upstream.Validation
}

type queryParam struct {
	name   string
	prefix string // "name=", the name query-escaped
	value  template
}

// auth is a validated config.Auth.
type auth struct {
	in     string
	name   string // canonical header name for in: header
	prefix string
}

// Name returns the configured provider name.
func (h *HTTP) Name() string { return h.name }

// Supports reports whether t is one of the configured types.
func (h *HTTP) Supports(t indicator.Type) bool { return h.types.supports(t) }

// Lookup sends the templated request. The indicator is escaped for the
// place it goes (query value, form value) and is never read as URL syntax.
// In the path, escaping is not enough — proxies decode and resolve before
// the API sees the path — so a value that could become a separator or a
// dot segment under any decoding is refused (segmentUnsafe) and nothing
// is sent.
func (h *HTTP) Lookup(ctx context.Context, req Request, key secret.Value) (Result, error) {
	if key.IsZero() {
		return Result{}, fmt.Errorf("provider %q: %w", h.name, errNoKey)
	}
	ep, err := h.endpoint(req.Indicator.Type)
	if err != nil {
		return Result{}, err
	}
	u, vals, err := h.pathFor(ep, req)
	if err != nil {
		return Result{}, err
	}
	var body, ctype string
	switch {
	case ep.method == http.MethodPost && ep.json:
		body, ctype = ep.encodeJSON(vals), "application/json"
	case ep.method == http.MethodPost:
		// A form body keeps the key out of URLs and access logs.
		body, ctype = h.encodeQuery(ep, vals, key), "application/x-www-form-urlencoded"
	default:
		u.RawQuery = h.encodeQuery(ep, vals, key)
	}

	hreq, err := newRequest(ctx, ep.method, u, body)
	if err != nil {
		return Result{}, fmt.Errorf("provider %q: %w", h.name, err)
	}
	if body == "" {
		ctype = "" // no body, no Content-Type (as before JSON bodies)
	}
	h.setHeader(hreq.Header, ctype, key)
	return call(ctx, h.doer, hreq, ep.validation, key.Reveal())
}

// endpoint is the call for indicator type t.
func (h *HTTP) endpoint(t indicator.Type) (*endpoint, error) {
	if h.one != nil {
		return h.one, nil
	}
	if ep := h.byType[t]; ep != nil {
		return ep, nil
	}
	return nil, fmt.Errorf("provider %q: no request.endpoints entry for type %s", h.name, t)
}

// encodeQuery is the query string (or form body) of one lookup, byte for
// byte what url.Values.Encode makes of the query parameters and, with auth
// in: query, the key: name=value pairs in name order, both query-escaped
// (QueryEscape: a space is "+"), joined by "&". The names are distinct and
// in order already (parseQuery, keyAt), so no map is built and nothing is
// sorted per request.
func (h *HTTP) encodeQuery(ep *endpoint, vals placeholders, key secret.Value) string {
	// Values escaped first, so the string is allocated once at its size.
	type pair struct{ prefix, value string }
	var buf [8]pair
	pairs := buf[:0]
	for i, p := range ep.query {
		if h.auth.in == AuthQuery && i == ep.keyAt {
			pairs = append(pairs, pair{h.keyParam, url.QueryEscape(key.Reveal())})
		}
		pairs = append(pairs, pair{p.prefix, url.QueryEscape(p.value.expand(vals, identity))})
	}
	if h.auth.in == AuthQuery && ep.keyAt == len(ep.query) {
		pairs = append(pairs, pair{h.keyParam, url.QueryEscape(key.Reveal())})
	}
	size := 0
	for _, p := range pairs {
		size += 1 + len(p.prefix) + len(p.value)
	}
	var b strings.Builder
	b.Grow(size)
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.prefix)
		b.WriteString(p.value)
	}
	return b.String()
}

// encodeJSON is a JSON body of one lookup: an object of the query
// parameters as string fields, in name order. The key never goes in it
// (config refuses body: json with auth in: query).
func (ep *endpoint) encodeJSON(vals placeholders) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, p := range ep.query {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, p.name)
		b.WriteByte(':')
		writeJSONString(&b, p.value.expand(vals, identity))
	}
	b.WriteByte('}')
	return b.String()
}

// writeJSONString writes s as a JSON string; json.Marshal of a string
// cannot fail, and escapes <, > and & as well, which is harmless.
func writeJSONString(b *strings.Builder, s string) {
	q, _ := json.Marshal(s)
	b.Write(q)
}

// setHeader fills hdr, a new request's empty header, with what
// h.header.Clone() and then Header.Set of the form's Content-Type (form:
// there is a body) and of the key's header (auth.header) make. The
// request's own map is filled rather than replaced, and the values share
// one array; each value slice is capped at its own length, as Clone's
// are, so an append cannot spill into the next.
func (h *HTTP) setHeader(hdr http.Header, contentType string, key secret.Value) {
	nv := 0
	for _, vv := range h.header {
		nv += len(vv)
	}
	vals := make([]string, nv, nv+2)
	for k, vv := range h.header {
		if vv == nil {
			hdr[k] = nil
			continue
		}
		n := copy(vals, vv)
		hdr[k] = vals[:n:n]
		vals = vals[n:]
	}
	// Header.Set with these canonical names: the one value replaces any.
	if contentType != "" {
		vals = append(vals, contentType)
		hdr["Content-Type"] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	if name, value, ok := h.auth.header(key); ok {
		vals = append(vals, value)
		hdr[name] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
}

func identity(s string) string { return s }

// CheckRequest reports, without sending anything, whether req can be
// placed in this provider's request: the pipeline asks before it takes a
// unit of rate or a breaker probe, so a refused indicator costs nobody
// anything. Lookup checks again.
func (h *HTTP) CheckRequest(req Request) error {
	ep, err := h.endpoint(req.Indicator.Type)
	if err != nil {
		return err
	}
	_, _, err = h.pathFor(ep, req)
	return err
}

// pathFor builds the request URL's path for req, refusing an indicator
// that could leave its segment (segmentUnsafe) or that forms, with the
// template's literal text, a segment servers resolve or trim to a dot
// segment ("/..{indicator}" with " "). It also returns the placeholder
// values, for the query templates.
func (h *HTTP) pathFor(ep *endpoint, req Request) (url.URL, placeholders, error) {
	if req.Indicator.Value == "" {
		return url.URL{}, placeholders{}, fmt.Errorf("provider %q: empty indicator: %w", h.name, ErrUnsafeIndicator)
	}
	if ep.path.has(placeholderIndicator) {
		if reason := segmentUnsafe(req.Indicator.Value); reason != "" {
			return url.URL{}, placeholders{}, fmt.Errorf("provider %q: path: %w", h.name, &UnsafeIndicatorError{Reason: reason})
		}
	}
	vals := placeholders{indicator: req.Indicator.Value, typ: string(req.Indicator.Type)}
	if ep.b64 {
		// VirusTotal's URL identifier: unpadded base64url, which holds
		// nothing a path segment would need escaped.
		vals.b64 = base64.RawURLEncoding.EncodeToString([]byte(req.Indicator.Value))
	}
	var b strings.Builder
	b.Grow(len(h.base.RawPath))
	b.WriteString(h.base.RawPath)
	ep.path.writeTo(&b, vals, url.PathEscape)
	escaped := b.String()
	if err := checkSegments(escaped); err != nil || dotSegment(escaped) {
		// The template passed the same check at startup, so the indicator
		// made this segment together with the template's literal text
		// ("/.{indicator}" and "."); its value stays out of the message.
		return url.URL{}, placeholders{}, fmt.Errorf("provider %q: path: %w", h.name,
			&UnsafeIndicatorError{Reason: "would form a '.' or '..' path segment with the path template"})
	}
	u := url.URL{Scheme: h.base.Scheme, Host: h.base.Host, Path: unescapePath(escaped), RawPath: escaped}
	if u.EscapedPath() != escaped {
		// net/url re-encodes Path when it distrusts RawPath, which would
		// turn an escaped "%2F" back into "/"; refuse rather than send that.
		return url.URL{}, placeholders{}, fmt.Errorf("provider %q: path: %w", h.name,
			&UnsafeIndicatorError{Reason: "cannot be sent in the path exactly as escaped"})
	}
	return u, vals, nil
}
