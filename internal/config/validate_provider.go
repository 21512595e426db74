package config

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/upstream"
)

func (v *validator) provider(name string, p *Provider) {
	f := "providers." + name
	v.name(f, name)
	switch p.Kind {
	case "socialeye", "http":
	case "":
		v.add(f+".kind", "required: socialeye or http")
	default:
		v.add(f+".kind", "must be socialeye or http, not %s", quote(p.Kind))
	}
	if p.BaseURL != "" || p.Kind == "http" { // socialeye has a default; an unknown kind is reported above
		v.baseURL(f+".base_url", p.BaseURL)
	}
	v.keys(f, p.Keys)
	if p.Webhooks != nil {
		v.webhooks(name, p.Webhooks)
	}
	v.providerTLS(f+".tls", p.TLS)
	if p.Timeout <= 0 {
		v.add(f+".timeout", "must be greater than 0")
	} else if wt := v.cfg.Server.WriteTimeout; wt > 0 && p.Timeout >= wt {
		v.add(f+".timeout", "must be shorter than server.write_timeout (%s), or the connection is cut before the 504 can be written",
			wt.Std())
	}
	v.positiveSize(f+".max_response_bytes", p.MaxResponseBytes)
	if p.MaxConnections < 1 || p.MaxConnections > 10000 {
		v.add(f+".max_connections", "must be between 1 and 10000, not %d", p.MaxConnections)
	}
	v.limits(f+".limits", p.Limits)
	if p.Retry.MaxAttempts < 1 {
		v.add(f+".retry.max_attempts", "must be at least 1 (1 means no retries)")
	}
	v.retry(f+".retry", p.Retry)
	v.breaker(f+".breaker", p.Breaker)
	v.types(f+".types", p)
	v.providerCache(f+".cache", p)
	switch {
	case p.Kind == "http" && p.Request == nil:
		v.add(f+".request", "required for kind http: the method, path and key placement of the upstream call")
	case p.Kind == "http":
		v.request(f+".request", p)
	case p.Kind == "socialeye" && p.Request != nil:
		v.add(f+".request", "only allowed for kind http (socialeye's request is built in)")
	}
	if p.Tier != "" && p.Preset == "" {
		v.add(f+".tier", "only with preset (it picks the preset's free or paid limits)")
	}
	if p.Compat != nil {
		v.compat(f+".compat", p)
	}
	v.revokeOn(f+".revoke_on", p.RevokeOn)
	if p.AuthCheck != nil {
		v.authCheck(f+".auth_check", p)
	}
}

// revokeOn allows only the statuses that speak about a key: 401 and 403.
func (v *validator) revokeOn(f string, statuses []int) {
	for i, s := range statuses {
		if s != http.StatusUnauthorized && s != http.StatusForbidden {
			v.add(fmt.Sprintf("%s[%d]", f, i), "must be 401 or 403, not %d", s)
		}
	}
}

// authCheck needs exactly one target: a fixed indicator, or (kind http) a
// fixed path, which takes no placeholders since nothing varies.
func (v *validator) authCheck(f string, p *Provider) {
	c := p.AuthCheck
	v.revokeOn(f+".revoke_on", c.RevokeOn)
	if len(c.RevokeOn) == 0 {
		v.add(f+".revoke_on", "must list at least one of 401, 403 (or remove auth_check)")
	}
	switch {
	case c.Indicator == "" && c.Path == "":
		v.add(f, "needs indicator (a fixed, neutral indicator) or path (an account or quota endpoint)")
	case c.Indicator != "" && c.Path != "":
		v.add(f, "takes indicator or path, not both")
	case c.Path != "" && p.Kind != "http":
		v.add(f+".path", "only for kind http; use indicator")
	case c.Path != "":
		switch {
		case !strings.HasPrefix(c.Path, "/"):
			v.add(f+".path", "must start with /")
		case strings.ContainsAny(c.Path, "?#{}"):
			v.add(f+".path", "must be a fixed path: no ?, #, or placeholders")
		case hasDotSegment(c.Path):
			v.add(f+".path", "must not contain empty (//), . or .. segments")
		}
	default:
		hint := c.Type
		if hint == "" {
			hint = indicator.Auto
		}
		ind, err := indicator.Parse(c.Indicator, hint)
		if err != nil {
			v.add(f+".indicator", "%v", err)
		} else if p.Kind == "http" && !slices.Contains(p.Types, ind.Type) {
			// The request template is written for these types; socialeye
			// resolves anything, whatever types the gateway sends it.
			v.add(f+".indicator", "is a %s, which this provider's types do not include", ind.Type)
		}
	}
	if c.Type != "" && c.Indicator == "" {
		v.add(f+".type", "only with indicator")
	}
}

// baseURL must be an absolute https URL with nothing that belongs elsewhere:
// credentials go in keys, queries in request.query. The value is not echoed
// because a URL with userinfo carries a password.
func (v *validator) baseURL(field, raw string) {
	if _, err := upstream.ParseBaseURL(raw); err != nil {
		v.add(field, "%s", err.Error())
	}
}

func (v *validator) keys(f string, keys []Key) {
	if len(keys) == 0 {
		v.add(f+".keys", "at least one key is required")
		return
	}
	seen := map[string]int{}
	for i, k := range keys {
		kf := fmt.Sprintf("%s.keys[%d]", f, i)
		v.keyID(kf+".id", k.ID, seen, i)
		v.secretRef(kf+".secret", k.Secret)
		v.name(kf+".environment", k.Environment)
	}
}

func (v *validator) providerTLS(f string, t ProviderTLS) {
	v.minTLS(f+".min_version", t.MinVersion)
	seen := map[string]bool{}
	for i, pin := range t.Pins {
		pf := fmt.Sprintf("%s.pins[%d]", f, i)
		if !validPin(pin) {
			v.add(pf, "must be sha256/ followed by the 44-character base64 SHA-256 of a certificate's SPKI "+
				"(as printed by `intelgate pin HOST:PORT`)")
			continue
		}
		if seen[pin] {
			v.add(pf, "duplicate pin")
		}
		seen[pin] = true
	}
}

// validPin accepts what the transport will: upstream.ParsePin owns the format.
func validPin(pin string) bool {
	_, err := upstream.ParsePin(pin)
	return err == nil
}

func (v *validator) limits(f string, l Limits) {
	if _, err := time.LoadLocation(l.TimeZone); err != nil || l.TimeZone == "Local" {
		v.add(f+".time_zone", "unknown time zone %s; use an IANA name such as UTC or America/New_York", quote(l.TimeZone))
	}
	if l.MaxWait < 0 {
		v.add(f+".max_wait", "must not be negative")
	}
	if l.Burst < 0 {
		v.add(f+".burst", "must not be negative")
	}
	if l.Quotas.Day < 0 {
		v.add(f+".quotas.day", "must not be negative (0 means unlimited)")
	}
	if l.Quotas.Month < 0 {
		v.add(f+".quotas.month", "must not be negative (0 means unlimited)")
	}
}

func (v *validator) breaker(f string, b Breaker) {
	if !(b.FailureRatio > 0 && b.FailureRatio <= 1) {
		v.add(f+".failure_ratio", "must be greater than 0 and at most 1")
	}
	if b.MinRequests < 1 {
		v.add(f+".min_requests", "must be at least 1")
	}
	if b.Window <= 0 {
		v.add(f+".window", "must be greater than 0")
	}
	if b.OpenFor <= 0 {
		v.add(f+".open_for", "must be greater than 0")
	}
	if b.HalfOpenRequests < 1 {
		v.add(f+".half_open_requests", "must be at least 1")
	}
}

func (v *validator) retry(f string, r Retry) {
	if r.MaxWait <= 0 {
		v.add(f+".max_wait", "must be greater than 0")
	}
	if r.Backoff <= 0 {
		v.add(f+".backoff", "must be greater than 0")
	}
	if !(r.Budget >= 0 && r.Budget <= 1) {
		v.add(f+".budget", "must be between 0 and 1 (a fraction of first attempts)")
	}
}

func (v *validator) types(f string, p *Provider) {
	if len(p.Types) == 0 && p.Kind == "http" {
		v.add(f, "required for kind http: the indicator types this upstream answers for")
		return
	}
	known := IndicatorTypes()
	seen := map[indicator.Type]bool{}
	for i, t := range p.Types {
		tf := fmt.Sprintf("%s[%d]", f, i)
		switch {
		case t == indicator.Auto:
			v.add(tf, "auto is a request for detection, not a type a provider answers for")
		case !slices.Contains(known, t):
			v.add(tf, "unknown indicator type %s (known: %s)", quote(string(t)), typeList(known))
		case seen[t]:
			v.add(tf, "duplicate type %s", quote(string(t)))
		}
		seen[t] = true
	}
}

func typeList(ts []indicator.Type) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// IsTransportHeader reports whether canon (a canonical header name) is the
// transport's: setting it from config would redirect or reframe the call.
// internal/provider refuses the same names when it builds a request.
func IsTransportHeader(canon string) bool {
	switch canon {
	case "Host", "Content-Length", "Transfer-Encoding", "Connection", "Te", "Trailer", "Upgrade":
		return true
	}
	return false
}

// IsCredentialHeader reports whether canon carries credentials: a static
// value for it would be a secret written literally into config.
func IsCredentialHeader(canon string) bool { return canon == "Authorization" || canon == "Cookie" }

// reservedHeader: set by intelgate or the transport, or a credential.
func reservedHeader(canon string) bool { return IsTransportHeader(canon) || IsCredentialHeader(canon) }

var headerName = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")

func (v *validator) request(f string, p *Provider) {
	r := p.Request
	if len(r.Endpoints) == 0 {
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			v.add(f+".method", "must be GET or POST, not %s", quote(r.Method))
		}
		v.requestTarget(f, r.Path, r.Query, r.Auth)
	} else {
		v.endpoints(f, p)
	}
	for _, h := range slices.Sorted(maps.Keys(r.Headers)) {
		hf := f + ".headers." + h
		canon := http.CanonicalHeaderKey(h)
		switch {
		case !headerName.MatchString(h):
			v.add(hf, "is not a valid header name")
		case reservedHeader(canon):
			v.add(hf, "%s is set by intelgate and cannot be configured", canon)
		case r.Auth.In == "header" && strings.EqualFold(h, r.Auth.Name):
			v.add(hf, "is the header auth.name puts the key in")
		case hasControl(r.Headers[h]):
			v.add(hf, "value must not contain control characters (CR or LF would inject headers)")
		}
	}
	v.auth(f+".auth", r)
	v.notFound(f, r.NotFoundStatus, r.NotFoundWhen)
	for i, s := range r.OKStatus {
		if s < 200 || s > 299 || s == http.StatusNoContent || s == http.StatusResetContent {
			v.add(fmt.Sprintf("%s.ok_status[%d]", f, i), "must be a 2xx status that carries a body, not %d", s)
		}
	}
	switch r.Response {
	case "", "object", "array":
	default:
		v.add(f+".response", "must be object or array, not %s", quote(r.Response))
	}
	if h := r.RateLimitHeaders; h != nil {
		hf := f + ".rate_limit_headers"
		for name, val := range map[string]string{"limit": h.Limit, "remaining": h.Remaining, "reset": h.Reset} {
			if val != "" && !headerName.MatchString(val) {
				v.add(hf+"."+name, "is not a valid header name")
			}
		}
		if h.Remaining == "" || h.Reset == "" {
			v.add(hf, "needs remaining and reset: the gateway pauses a key when remaining reaches 0, until reset")
		}
		switch h.ResetFormat {
		case "unix", "seconds", "http-date":
		default:
			v.add(hf+".reset_format", "must be unix, seconds or http-date, not %s", quote(h.ResetFormat))
		}
	}
}

// endpoints checks a request with one call per indicator type: the
// request-wide target fields must be left out, every endpoint's type must
// be known, and every type the provider answers for needs an endpoint.
func (v *validator) endpoints(f string, p *Provider) {
	r := p.Request
	if (r.Method != "" && r.Method != http.MethodGet) || r.Path != "" || len(r.Query) > 0 {
		v.add(f, "method, path and query go in each of request.endpoints, not beside them")
	}
	known := IndicatorTypes()
	for _, t := range slices.Sorted(maps.Keys(r.Endpoints)) {
		ef := f + ".endpoints." + string(t)
		e := r.Endpoints[t]
		if !slices.Contains(known, t) || t == indicator.Auto {
			v.add(ef, "unknown indicator type %s (known: %s)", quote(string(t)), typeList(known))
			continue
		}
		if e == nil {
			v.add(ef, "must set at least path")
			continue
		}
		switch e.Method {
		case "", http.MethodGet:
			if e.Body != "" {
				v.add(ef+".body", "only for method POST")
			}
		case http.MethodPost:
			if e.Body != "" && e.Body != "form" && e.Body != "json" {
				v.add(ef+".body", "must be form or json, not %s", quote(e.Body))
			}
		default:
			v.add(ef+".method", "must be GET or POST, not %s", quote(e.Method))
		}
		if e.Body == "json" && r.Auth.In == "query" {
			v.add(ef+".body", "json cannot carry the key of auth in: query; put the key in a header")
		}
		v.requestTarget(ef, e.Path, e.Query, r.Auth)
		v.notFound(ef, e.NotFoundStatus, e.NotFoundWhen)
	}
	for i, t := range p.Types {
		if _, ok := r.Endpoints[t]; !ok && t != indicator.Auto && slices.Contains(known, t) {
			v.add(fmt.Sprintf("%s.types[%d]", strings.TrimSuffix(f, ".request"), i), "%s has no request.endpoints.%s", t, t)
		}
	}
}

func (v *validator) notFound(f string, statuses []int, when []BodyMatch) {
	for i, s := range statuses {
		if s < 400 || s > 499 || s == 401 || s == 403 || s == 429 {
			v.add(fmt.Sprintf("%s.not_found_status[%d]", f, i),
				"must be a 4xx status other than 401, 403 and 429 (those mean auth failure and rate limiting)")
		}
	}
	for i, m := range when {
		mf := fmt.Sprintf("%s.not_found_when[%d]", f, i)
		if !validPointer(m.Pointer) {
			v.add(mf+".pointer", "must be a JSON pointer (RFC 6901) such as /query_status")
		}
		if len(m.Equals) == 0 {
			v.add(mf+".equals", "must list at least one value")
		}
	}
}

// validPointer accepts a non-empty RFC 6901 pointer: "/"-separated tokens
// where "~" only escapes "0" or "1".
func validPointer(p string) bool {
	if !strings.HasPrefix(p, "/") {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] == '~' && (i+1 == len(p) || p[i+1] != '0' && p[i+1] != '1') {
			return false
		}
	}
	return true
}

var placeholder = regexp.MustCompile(`\{[^{}]*\}`)

// requestTarget checks the path and query templates: only {indicator},
// {indicator_base64url} and {type} may appear, and the indicator must go
// somewhere, or every lookup would ask the upstream the same question.
func (v *validator) requestTarget(f, path string, query map[string]string, a Auth) {
	usesIndicator := func(t string) bool {
		return strings.Contains(t, "{indicator}") || strings.Contains(t, "{indicator_base64url}")
	}
	uses := usesIndicator(path)
	check := func(field, tmpl string) {
		for _, ph := range placeholder.FindAllString(tmpl, -1) {
			if ph != "{indicator}" && ph != "{indicator_base64url}" && ph != "{type}" {
				v.add(field, "unknown placeholder %s (only {indicator}, {indicator_base64url} and {type})", quote(ph))
			}
		}
		if strings.Count(tmpl, "{") != strings.Count(tmpl, "}") || strings.Contains(placeholder.ReplaceAllString(tmpl, ""), "{") {
			v.add(field, "has an unbalanced { or }")
		}
		uses = uses || usesIndicator(tmpl)
	}
	switch {
	case path == "":
		v.add(f+".path", "required: the path appended to base_url, e.g. /api/v3/ip_addresses/{indicator}")
	case !strings.HasPrefix(path, "/"):
		v.add(f+".path", "must start with /")
	case strings.ContainsAny(path, "?#"):
		v.add(f+".path", "must not contain ? or # (use query)")
	case hasDotSegment(path):
		v.add(f+".path", "must not contain empty (//), . or .. segments")
	default:
		check(f+".path", path)
	}
	for _, k := range slices.Sorted(maps.Keys(query)) {
		if k == "" {
			v.add(f+".query", "parameter names must not be empty")
		}
		if a.In == "query" && k == a.Name {
			v.add(f+".query."+k, "clashes with request.auth.name, where the key goes")
		}
		check(f+".query."+k, query[k])
	}
	if path != "" && !uses {
		v.add(f+".path", "neither the path nor any query value contains {indicator}")
	}
}

func (v *validator) auth(f string, r *HTTPRequest) {
	a := r.Auth
	switch a.In {
	case "bearer":
		if a.Name != "" {
			v.add(f+".name", "only used with in: header or in: query (bearer always uses Authorization)")
		}
	case "header", "query":
		if a.Name == "" {
			v.add(f+".name", "required with in: %s: the %s name the key goes in", a.In, map[string]string{"header": "header", "query": "query parameter"}[a.In])
		} else if a.In == "header" && !headerName.MatchString(a.Name) {
			v.add(f+".name", "is not a valid header name")
		} else if c := http.CanonicalHeaderKey(a.Name); a.In == "header" && c != "Authorization" && reservedHeader(c) {
			// Authorization is allowed here for schemes other than Bearer
			// ("Authorization: Token …" via prefix).
			v.add(f+".name", "%s cannot carry the key", c)
		}
		if _, clash := r.Query[a.Name]; a.In == "query" && clash {
			v.add(f+".name", "clashes with request.query.%s", a.Name)
		}
	default:
		v.add(f+".in", "must be bearer, header or query, not %s", quote(a.In))
	}
	if a.Prefix != "" && a.In != "header" {
		v.add(f+".prefix", "only used with in: header")
	}
}

// hasDotSegment reports "//", "." or ".." segments, escaped or not: servers
// and proxies collapse them, so the request would not go where it reads.
func hasDotSegment(path string) bool {
	segs := strings.Split(path, "/")
	for i, seg := range segs[1:] {
		if seg == "" && i < len(segs)-2 { // a trailing slash is fine
			return true
		}
		if u, err := url.PathUnescape(seg); err == nil && (u == "." || u == "..") {
			return true
		}
	}
	return false
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, func(c rune) bool { return c < 0x20 || c == 0x7f }) >= 0
}

// compat checks a provider's vendor-compatible routes: where the token is
// read from, and for each route where its indicator is and which types it
// may be. A route is only ever a lookup through the provider's own
// request, so nothing here can make the gateway proxy a path.
func (v *validator) compat(f string, p *Provider) {
	c := p.Compat
	if p.Kind != "http" {
		v.add(f, "only for kind http")
		return
	}
	if len(c.Key) == 0 && len(c.Routes) > 0 {
		v.add(f+".key", "must list where the vendor's clients send their key (the gateway token goes there)")
	}
	for i, k := range c.Key {
		kf := fmt.Sprintf("%s.key[%d]", f, i)
		switch k.In {
		case "header":
			if !headerName.MatchString(k.Name) {
				v.add(kf+".name", "must be a header name")
			}
		case "query":
			if k.Name == "" {
				v.add(kf+".name", "required")
			}
		default:
			// A key in a body would have to be read before the caller is
			// known; no preset's vendor puts it there.
			v.add(kf+".in", "must be header or query, not %s", quote(k.In))
		}
		if k.Prefix != "" && k.In != "header" {
			v.add(kf+".prefix", "only with in: header")
		}
	}
	if a := c.NotFound; a != nil {
		if a.Status != http.StatusOK && a.Status != http.StatusNotFound {
			v.add(f+".not_found.status", "must be 200 or 404, not %d", a.Status)
		}
		if !json.Valid([]byte(a.Body)) {
			v.add(f+".not_found.body", "must be a JSON document")
		}
	}
	seen := map[string]int{}
	for i, r := range c.Routes {
		rf := fmt.Sprintf("%s.routes[%d]", f, i)
		switch r.Method {
		case "", http.MethodGet, http.MethodPost:
		default:
			v.add(rf+".method", "must be GET or POST, not %s", quote(r.Method))
		}
		inPath := strings.Count(r.Path, "{indicator}")
		switch {
		case !strings.HasPrefix(r.Path, "/"):
			v.add(rf+".path", "must start with /")
		case strings.ContainsAny(r.Path, "?#") || hasDotSegment(r.Path):
			v.add(rf+".path", "must be a plain path: no ?, #, empty or dot segments")
		case inPath > 1 || strings.Count(r.Path, "{") != inPath:
			v.add(rf+".path", "takes at most one placeholder, {indicator}")
		case inPath == 1 && !strings.Contains(r.Path+"/", "/{indicator}/"):
			v.add(rf+".path", "{indicator} must be a whole path segment")
		case inPath == 1 && r.IndicatorFrom != nil:
			v.add(rf+".indicator_from", "the path already carries {indicator}")
		case inPath == 0 && r.IndicatorFrom == nil:
			v.add(rf+".indicator_from", "required when the path has no {indicator}")
		}
		if q := r.IndicatorFrom; q != nil {
			switch {
			case q.In == "json" && !validPointer(q.Pointer):
				v.add(rf+".indicator_from.pointer", "must be a JSON pointer such as /search_term")
			case q.In == "query" || q.In == "form":
				if q.Name == "" {
					v.add(rf+".indicator_from.name", "required")
				}
			case q.In != "json":
				v.add(rf+".indicator_from.in", "must be query, form or json, not %s", quote(q.In))
			}
		}
		for ptr := range r.Match.JSON {
			if !validPointer(ptr) {
				v.add(rf+".match.json", "%s is not a JSON pointer", quote(ptr))
			}
		}
		if r.Decode != "" && r.Decode != "base64url" {
			v.add(rf+".decode", "must be base64url or left out, not %s", quote(r.Decode))
		}
		if len(r.Types) == 0 {
			v.add(rf+".types", "must list the indicator types the route takes")
		}
		for j, t := range r.Types {
			if !slices.Contains(p.Types, t) {
				v.add(fmt.Sprintf("%s.types[%d]", rf, j), "%s is not one of the provider's types", quote(string(t)))
			}
		}
		key := r.Method + " " + r.Path + fmt.Sprint(r.Match)
		if first, dup := seen[key]; dup {
			v.add(rf, "is the same route as routes[%d]", first)
		}
		seen[key] = i
	}
}
