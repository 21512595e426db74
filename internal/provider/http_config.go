package provider

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/upstream"
)

// newHTTP validates a kind: http config completely before anything is sent:
// every mistake here would otherwise surface as a wrong request carrying a
// real key.
func newHTTP(name string, cfg *config.Provider, doer Doer, schema *jsonschema.Schema) (*HTTP, error) {
	r := cfg.Request
	if r == nil {
		return nil, errors.New("request: required for kind http")
	}
	base, err := parseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if len(cfg.Types) == 0 {
		return nil, errors.New("types: required for kind http (the indicator types the API answers for)")
	}
	types, err := newTypeSet(cfg.Types)
	if err != nil {
		return nil, err
	}
	h := &HTTP{name: name, base: base, types: types, doer: doer}
	if h.auth, err = parseAuth(r.Auth); err != nil {
		return nil, err
	}
	if h.auth.in == AuthQuery {
		h.keyParam = url.QueryEscape(h.auth.name) + "="
	}
	if h.header, err = parseHeaders(r.Headers, h.auth); err != nil {
		return nil, err
	}
	if err := checkNotFound("request", r.NotFoundStatus); err != nil {
		return nil, err
	}
	h.notFound = slices.Clone(r.NotFoundStatus)
	v := upstream.Validation{NotFoundStatus: h.notFound, Schema: schema, NotFoundWhen: bodyMatches(r.NotFoundWhen),
		OKStatus: slices.Clone(r.OKStatus)}
	for _, s := range r.OKStatus {
		if s < 200 || s > 299 || s == http.StatusNoContent || s == http.StatusResetContent {
			return nil, fmt.Errorf("request.ok_status: %d is not a 2xx status with a body", s)
		}
	}
	switch r.Response {
	case "", "object":
	case "array":
		v.AllowArray = true
	default:
		return nil, fmt.Errorf("request.response: %q is not object or array", r.Response)
	}
	if rl := r.RateLimitHeaders; rl != nil {
		v.RateLimit = &upstream.RateLimitHeaders{Remaining: rl.Remaining, Reset: rl.Reset, ResetFormat: rl.ResetFormat}
	}
	if len(r.Endpoints) == 0 {
		if h.one, err = h.newEndpoint("request", config.Endpoint{Method: r.Method, Path: r.Path, Query: r.Query}, v); err != nil {
			return nil, err
		}
	} else {
		if (r.Method != "" && r.Method != http.MethodGet) || r.Path != "" || len(r.Query) > 0 {
			return nil, errors.New("request: method, path and query go in each of request.endpoints, not beside them")
		}
		h.byType = make(map[indicator.Type]*endpoint, len(r.Endpoints))
		for _, t := range cfg.Types {
			e := r.Endpoints[t]
			if e == nil {
				return nil, fmt.Errorf("types: %s has no request.endpoints.%s", t, t)
			}
			if h.byType[t], err = h.newEndpoint("request.endpoints."+string(t), *e, v); err != nil {
				return nil, err
			}
		}
	}
	if h.check, err = newAuthCheck(cfg.AuthCheck, base); err != nil {
		return nil, err
	}
	if h.check != nil && h.check.ind != nil {
		// A check that can never be sent would leave every refused key
		// unconfirmed: say so at start-up.
		ep, err := h.endpoint(h.check.ind.Type)
		if err != nil {
			return nil, fmt.Errorf("auth_check.indicator: %w", err)
		}
		if _, _, err := h.pathFor(ep, Request{Indicator: *h.check.ind}); err != nil {
			var ue *UnsafeIndicatorError
			if errors.As(err, &ue) {
				return nil, fmt.Errorf("auth_check.indicator: cannot be placed in the request path: it %s", ue.Reason)
			}
			return nil, fmt.Errorf("auth_check.indicator: %w", err)
		}
	}
	return h, nil
}

// newEndpoint validates one call; f names it in errors ("request",
// "request.endpoints.ipv4"), and v is the request's validation, which the
// endpoint's own not-found rules replace in part.
func (h *HTTP) newEndpoint(f string, e config.Endpoint, v upstream.Validation) (*endpoint, error) {
	ep := &endpoint{}
	var err error
	if ep.method, err = parseMethod(e.Method); err != nil {
		return nil, fmt.Errorf("%s.%w", f, err)
	}
	switch e.Body {
	case "", "form":
	case "json":
		ep.json = true
	default:
		return nil, fmt.Errorf("%s.body: %q is not form or json", f, e.Body)
	}
	if e.Body != "" && ep.method != http.MethodPost {
		return nil, fmt.Errorf("%s.body: only for method POST", f)
	}
	if ep.json && h.auth.in == AuthQuery {
		return nil, fmt.Errorf("%s.body: json cannot carry the key of auth in: query", f)
	}
	if ep.path, err = parsePath(f, e.Path); err != nil {
		return nil, err
	}
	if ep.query, err = parseQuery(f, e.Query, h.auth); err != nil {
		return nil, err
	}
	ep.b64 = ep.path.has(placeholderBase64URL)
	for _, q := range ep.query {
		ep.b64 = ep.b64 || q.value.has(placeholderBase64URL)
	}
	if h.auth.in == AuthQuery {
		// parseQuery refused a parameter of the key's name.
		ep.keyAt, _ = slices.BinarySearchFunc(ep.query, h.auth.name, func(p queryParam, name string) int {
			return strings.Compare(p.name, name)
		})
	}
	if e.NotFoundStatus != nil {
		if err := checkNotFound(f, e.NotFoundStatus); err != nil {
			return nil, err
		}
		v.NotFoundStatus = slices.Clone(e.NotFoundStatus)
	}
	if e.NotFoundWhen != nil {
		v.NotFoundWhen = bodyMatches(e.NotFoundWhen)
	}
	ep.validation = v
	return ep, nil
}

func bodyMatches(ms []config.BodyMatch) []upstream.BodyMatch {
	if len(ms) == 0 {
		return nil
	}
	out := make([]upstream.BodyMatch, len(ms))
	for i, m := range ms {
		out[i] = upstream.BodyMatch{Pointer: m.Pointer, Equals: slices.Clone(m.Equals)}
	}
	return out
}

func parseMethod(m string) (string, error) {
	switch strings.ToUpper(m) {
	case "", http.MethodGet:
		return http.MethodGet, nil
	case http.MethodPost:
		return http.MethodPost, nil
	}
	return "", fmt.Errorf("method: %q is not GET or POST", m)
}

func parseAuth(a config.Auth) (auth, error) {
	switch a.In {
	case "", AuthBearer:
		if a.Name != "" || a.Prefix != "" {
			return auth{}, errors.New("request.auth: name and prefix do not apply to in: bearer")
		}
		return auth{in: AuthBearer}, nil
	case AuthHeader:
		if err := checkHeaderName(a.Name); err != nil {
			return auth{}, fmt.Errorf("request.auth.name: %w", err)
		}
		switch c := http.CanonicalHeaderKey(a.Name); {
		case config.IsTransportHeader(c):
			return auth{}, fmt.Errorf("request.auth.name: %s is set by the transport", a.Name)
		case c == "Cookie": // Authorization is fine: a scheme prefix can go before the key
			return auth{}, fmt.Errorf("request.auth.name: %s cannot carry an API key", a.Name)
		}
		if err := checkHeaderValue(a.Prefix); err != nil {
			return auth{}, fmt.Errorf("request.auth.prefix: %w", err)
		}
		return auth{in: AuthHeader, name: http.CanonicalHeaderKey(a.Name), prefix: a.Prefix}, nil
	case AuthQuery:
		if a.Name == "" {
			return auth{}, errors.New("request.auth.name: required for in: query")
		}
		if a.Prefix != "" {
			return auth{}, errors.New("request.auth.prefix: only applies to in: header")
		}
		return auth{in: AuthQuery, name: a.Name}, nil
	}
	return auth{}, fmt.Errorf("request.auth.in: %q is not bearer, header or query", a.In)
}

// parsePath checks the template with a harmless stand-in for each
// placeholder, so literal dot segments, "//" and characters that would
// need escaping are startup errors.
func parsePath(f, p string) (template, error) {
	t, err := parseTemplate(p)
	if err != nil {
		return nil, fmt.Errorf("%s.path: %w", f, err)
	}
	for _, part := range t {
		if err := validPathLiteral(part.literal); err != nil {
			return nil, fmt.Errorf("%s.path: %w", f, err)
		}
	}
	sample := t.expand(placeholders{indicator: "x", typ: "x", b64: "x"}, identity)
	if err := checkSegments(sample); err != nil {
		return nil, fmt.Errorf("%s.path: %w", f, err)
	}
	return t, nil
}

func parseQuery(f string, q map[string]string, a auth) ([]queryParam, error) {
	params := make([]queryParam, 0, len(q))
	for name, value := range q {
		if name == "" {
			return nil, fmt.Errorf("%s.query: empty parameter name", f)
		}
		if a.in == AuthQuery && name == a.name {
			return nil, fmt.Errorf("%s.query.%s: is where auth puts the key; remove it", f, name)
		}
		t, err := parseTemplate(value)
		if err != nil {
			return nil, fmt.Errorf("%s.query.%s: %w", f, name, err)
		}
		params = append(params, queryParam{name: name, prefix: url.QueryEscape(name) + "=", value: t})
	}
	slices.SortFunc(params, func(a, b queryParam) int { return strings.Compare(a.name, b.name) })
	return params, nil
}

func parseHeaders(hs map[string]string, a auth) (http.Header, error) {
	h := http.Header{"Accept": {"application/json"}}
	for name, value := range hs {
		if err := checkHeaderName(name); err != nil {
			return nil, fmt.Errorf("request.headers: %w", err)
		}
		canon := http.CanonicalHeaderKey(name)
		switch {
		case config.IsTransportHeader(canon):
			return nil, fmt.Errorf("request.headers.%s: set by the transport, not by config", name)
		case config.IsCredentialHeader(canon):
			// Either would be a credential written literally into config,
			// where only secret references belong. Non-Bearer schemes use
			// auth {in: header, name: Authorization, prefix: "Token "}.
			return nil, fmt.Errorf("request.headers.%s: credentials go through auth and keys, not static headers", name)
		case a.in == AuthHeader && canon == a.name:
			return nil, fmt.Errorf("request.headers.%s: is where auth puts the key; remove it", name)
		}
		if err := checkHeaderValue(value); err != nil {
			return nil, fmt.Errorf("request.headers.%s: %w", name, err)
		}
		h.Set(canon, value)
	}
	return h, nil
}

// checkHeaderName accepts an RFC 9110 token.
func checkHeaderName(n string) error {
	if n == "" {
		return errors.New("empty header name")
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return fmt.Errorf("header name %q: character %q not allowed", n, c)
		}
	}
	return nil
}

// checkHeaderValue refuses control characters; CR and LF would let a config
// value inject headers.
func checkHeaderValue(v string) error {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return fmt.Errorf("control character at byte %d", i)
		}
	}
	return nil
}

// checkNotFound accepts only 4xx statuses, and not 401/403/429: those mean
// an auth failure (a security event) or rate limiting, and reading them as
// "no data" would hide both behind a cached negative answer. A 2xx or 5xx
// "no data" is not a thing an upstream can be trusted to mean.
func checkNotFound(f string, statuses []int) error {
	for i, s := range statuses {
		if s < 400 || s > 499 || s == 401 || s == 403 || s == 429 {
			return fmt.Errorf("%s.not_found_status[%d]: %d cannot mean not found (want a 4xx other than 401, 403, 429)", f, i, s)
		}
	}
	return nil
}
