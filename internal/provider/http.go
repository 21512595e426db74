package provider

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

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
// config change and a review, not a code change.
type HTTP struct {
	name       string
	method     string
	base       *url.URL
	path       template
	query      []queryParam // sorted by name: the wire form is deterministic
	header     http.Header  // static headers, already validated
	auth       auth
	types      typeSet
	doer       Doer
	validation upstream.Validation
	check      *authCheck
}

type queryParam struct {
	name  string
	value template
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
	u, vals, err := h.pathFor(req)
	if err != nil {
		return Result{}, err
	}
	params := url.Values{}
	for _, p := range h.query {
		params.Set(p.name, p.value.expand(vals, identity))
	}
	if h.auth.in == AuthQuery {
		params.Set(h.auth.name, key.Reveal())
	}
	var body string
	if h.method == http.MethodPost {
		body = params.Encode() // form body keeps the key out of URLs and access logs
	} else {
		u.RawQuery = params.Encode()
	}

	hreq, err := newRequest(ctx, h.method, u, body)
	if err != nil {
		return Result{}, fmt.Errorf("provider %q: %w", h.name, err)
	}
	hreq.Header = h.header.Clone()
	if body != "" {
		hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	h.auth.apply(hreq.Header, key)
	return call(ctx, h.doer, hreq, h.validation, key.Reveal())
}

func identity(s string) string { return s }

// CheckRequest reports, without sending anything, whether req can be
// placed in this provider's request: the pipeline asks before it takes a
// unit of rate or a breaker probe, so a refused indicator costs nobody
// anything. Lookup checks again.
func (h *HTTP) CheckRequest(req Request) error {
	_, _, err := h.pathFor(req)
	return err
}

// pathFor builds the request URL's path for req, refusing an indicator
// that could leave its segment (segmentUnsafe) or that forms, with the
// template's literal text, a segment servers resolve or trim to a dot
// segment ("/..{indicator}" with " "). It also returns the placeholder
// values, for the query templates.
func (h *HTTP) pathFor(req Request) (*url.URL, map[string]string, error) {
	if req.Indicator.Value == "" {
		return nil, nil, fmt.Errorf("provider %q: empty indicator: %w", h.name, ErrUnsafeIndicator)
	}
	if h.path.has(placeholderIndicator) {
		if reason := segmentUnsafe(req.Indicator.Value); reason != "" {
			return nil, nil, fmt.Errorf("provider %q: path: %w", h.name, &UnsafeIndicatorError{Reason: reason})
		}
	}
	vals := map[string]string{
		placeholderIndicator: req.Indicator.Value,
		placeholderType:      string(req.Indicator.Type),
	}
	escaped := h.base.RawPath + h.path.expand(vals, url.PathEscape)
	if err := checkSegments(escaped); err != nil || dotSegment(escaped) {
		// The template passed the same check at startup, so the indicator
		// made this segment together with the template's literal text
		// ("/.{indicator}" and "."); its value stays out of the message.
		return nil, nil, fmt.Errorf("provider %q: path: %w", h.name,
			&UnsafeIndicatorError{Reason: "would form a '.' or '..' path segment with the path template"})
	}
	u := &url.URL{Scheme: h.base.Scheme, Host: h.base.Host, Path: unescapePath(escaped), RawPath: escaped}
	if u.EscapedPath() != escaped {
		// net/url re-encodes Path when it distrusts RawPath, which would
		// turn an escaped "%2F" back into "/"; refuse rather than send that.
		return nil, nil, fmt.Errorf("provider %q: path: %w", h.name,
			&UnsafeIndicatorError{Reason: "cannot be sent in the path exactly as escaped"})
	}
	return u, vals, nil
}
