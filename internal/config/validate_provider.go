package config

import (
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
		v.request(f+".request", p.Request)
	case p.Kind == "socialeye" && p.Request != nil:
		v.add(f+".request", "only allowed for kind http (socialeye's request is built in)")
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

func (v *validator) request(f string, r *HTTPRequest) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		v.add(f+".method", "must be GET or POST, not %s", quote(r.Method))
	}
	v.requestTarget(f, r)
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
	for i, s := range r.NotFoundStatus {
		if s < 400 || s > 499 || s == 401 || s == 403 || s == 429 {
			v.add(fmt.Sprintf("%s.not_found_status[%d]", f, i),
				"must be a 4xx status other than 401, 403 and 429 (those mean auth failure and rate limiting)")
		}
	}
}

var placeholder = regexp.MustCompile(`\{[^{}]*\}`)

// requestTarget checks the path and query templates: only {indicator} and
// {type} may appear, and the indicator must go somewhere, or every lookup
// would ask the upstream the same question.
func (v *validator) requestTarget(f string, r *HTTPRequest) {
	uses := strings.Contains(r.Path, "{indicator}")
	check := func(field, tmpl string) {
		for _, ph := range placeholder.FindAllString(tmpl, -1) {
			if ph != "{indicator}" && ph != "{type}" {
				v.add(field, "unknown placeholder %s (only {indicator} and {type})", quote(ph))
			}
		}
		if strings.Count(tmpl, "{") != strings.Count(tmpl, "}") || strings.Contains(placeholder.ReplaceAllString(tmpl, ""), "{") {
			v.add(field, "has an unbalanced { or }")
		}
		uses = uses || strings.Contains(tmpl, "{indicator}")
	}
	switch {
	case r.Path == "":
		v.add(f+".path", "required: the path appended to base_url, e.g. /api/v3/ip_addresses/{indicator}")
	case !strings.HasPrefix(r.Path, "/"):
		v.add(f+".path", "must start with /")
	case strings.ContainsAny(r.Path, "?#"):
		v.add(f+".path", "must not contain ? or # (use request.query)")
	case hasDotSegment(r.Path):
		v.add(f+".path", "must not contain empty (//), . or .. segments")
	default:
		check(f+".path", r.Path)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Query)) {
		if k == "" {
			v.add(f+".query", "parameter names must not be empty")
		}
		check(f+".query."+k, r.Query[k])
	}
	if r.Path != "" && !uses {
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
