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
// place it goes (path segment, query value, form value) and is never read
// as URL syntax: "../", "?", "#" and "/" stay inside their segment.
func (h *HTTP) Lookup(ctx context.Context, req Request, key secret.Value) (Result, error) {
	if key.IsZero() {
		return Result{}, fmt.Errorf("provider %q: %w", h.name, errNoKey)
	}
	if req.Indicator.Value == "" {
		return Result{}, fmt.Errorf("provider %q: empty indicator: %w", h.name, ErrUnsafeIndicator)
	}
	vals := map[string]string{
		placeholderIndicator: req.Indicator.Value,
		placeholderType:      string(req.Indicator.Type),
	}
	escaped := h.base.RawPath + h.path.expand(vals, url.PathEscape)
	if err := checkSegments(escaped); err != nil {
		// The template passed the same check at startup, so the indicator
		// made this segment; its value stays out of the message.
		return Result{}, fmt.Errorf("provider %q: path: %w", h.name, ErrUnsafeIndicator)
	}
	u := &url.URL{Scheme: h.base.Scheme, Host: h.base.Host, Path: unescapePath(escaped), RawPath: escaped}
	if u.EscapedPath() != escaped {
		// net/url re-encodes Path when it distrusts RawPath, which would
		// turn an escaped "%2F" back into "/"; refuse rather than send that.
		return Result{}, fmt.Errorf("provider %q: path: %w", h.name, ErrUnsafeIndicator)
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
	switch h.auth.in {
	case AuthBearer:
		hreq.Header.Set("Authorization", "Bearer "+key.Reveal())
	case AuthHeader:
		hreq.Header.Set(h.auth.name, h.auth.prefix+key.Reveal())
	}
	return call(ctx, h.doer, hreq, h.validation, key.Reveal())
}

func identity(s string) string { return s }
