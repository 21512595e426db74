package provider

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/secret"
)

func httpConfig(base string, r config.HTTPRequest) *config.Provider {
	return &config.Provider{Kind: KindHTTP, BaseURL: base, Types: []indicator.Type{indicator.IPv4, indicator.URL, indicator.Username}, Request: &r}
}

func TestHTTPRequest(t *testing.T) {
	t.Parallel()
	ip := indicator.Indicator{Value: "203.0.113.7", Type: indicator.IPv4}
	tests := []struct {
		name string
		cfg  *config.Provider
		ind  indicator.Indicator
		want string
	}{
		{
			name: "bearer is the default placement",
			cfg:  httpConfig("https://api.example.org", config.HTTPRequest{Path: "/v1/ip/{indicator}"}),
			ind:  ip,
			want: "GET https://api.example.org/v1/ip/203.0.113.7\nAccept: application/json\nAuthorization: Bearer {key}\n",
		},
		{
			name: "header placement with prefix and static headers",
			cfg: httpConfig("https://api.example.org", config.HTTPRequest{Path: "/check",
				Headers: map[string]string{"accept": "application/vnd.api+json", "User-Agent": "intelgate"},
				Auth:    config.Auth{In: "header", Name: "authorization", Prefix: "Token "}}),
			ind: ip,
			want: "GET https://api.example.org/check\nAccept: application/vnd.api+json\n" +
				"Authorization: Token {key}\nUser-Agent: intelgate\n",
		},
		{
			name: "query placement, templated query values, sorted",
			cfg: httpConfig("https://api.example.org", config.HTTPRequest{Path: "/lookup",
				Query: map[string]string{"q": "{indicator}", "kind": "{type}", "days": "90"},
				Auth:  config.Auth{In: "query", Name: "apikey"}}),
			ind:  ip,
			want: "GET https://api.example.org/lookup?apikey={key}&days=90&kind=ipv4&q=203.0.113.7\nAccept: application/json\n",
		},
		{
			name: "base path prefix kept",
			cfg:  httpConfig("https://x.example/api/", config.HTTPRequest{Path: "/v2/check"}),
			ind:  ip,
			want: "GET https://x.example/api/v2/check\nAccept: application/json\nAuthorization: Bearer {key}\n",
		},
		{
			name: "escaped base path prefix kept escaped",
			cfg:  httpConfig("https://x.example/a%2Fb", config.HTTPRequest{Path: "/{type}/{indicator}"}),
			ind:  ip,
			want: "GET https://x.example/a%2Fb/ipv4/203.0.113.7\nAccept: application/json\nAuthorization: Bearer {key}\n",
		},
		{
			name: "unicode in the path is percent-encoded UTF-8",
			cfg:  httpConfig("https://api.example.org", config.HTTPRequest{Path: "/v1/user/{indicator}"}),
			ind:  indicator.Indicator{Value: "jörg", Type: indicator.Username},
			want: "GET https://api.example.org/v1/user/j%C3%B6rg\nAccept: application/json\nAuthorization: Bearer {key}\n",
		},
		{
			name: "query escaping of the indicator",
			cfg: httpConfig("https://api.example.org", config.HTTPRequest{Path: "/check",
				Query: map[string]string{"url": "{indicator}"}}),
			ind:  indicator.Indicator{Value: "https://e.example/?a=1&b=2#x y", Type: indicator.URL},
			want: "GET https://api.example.org/check?url=https%3A%2F%2Fe.example%2F%3Fa%3D1%26b%3D2%23x+y\nAccept: application/json\nAuthorization: Bearer {key}\n",
		},
		{
			name: "POST sends parameters and a query key as a form body",
			cfg: httpConfig("https://urlhaus.example", config.HTTPRequest{Method: "post", Path: "/v1/host/",
				Query: map[string]string{"host": "{indicator}"}, Auth: config.Auth{In: "query", Name: "auth-key"}}),
			ind: ip,
			want: "POST https://urlhaus.example/v1/host/\nAccept: application/json\n" +
				"Content-Type: application/x-www-form-urlencoded\n\nauth-key={key}&host=203.0.113.7\n",
		},
		{
			name: "POST without parameters has no body",
			cfg:  httpConfig("https://api.example.org", config.HTTPRequest{Method: "POST", Path: "/ip/{indicator}"}),
			ind:  ip,
			want: "POST https://api.example.org/ip/203.0.113.7\nAccept: application/json\nAuthorization: Bearer {key}\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doer := &fakeDoer{}
			p, err := NewWithDoer("p", tt.cfg, doer)
			require.NoError(t, err)
			_, err = p.Lookup(context.Background(), Request{Indicator: tt.ind}, secret.NewValue(testKey))
			require.NoError(t, err)
			req, body, _ := doer.only(t)
			require.Equal(t, tt.want, render(req, body, testKey))
			require.Equal(t, "", req.URL.User.String(), "no userinfo")
			base, err := parseBaseURL(tt.cfg.BaseURL)
			require.NoError(t, err)
			require.Equal(t, base.Host, req.URL.Host, "request stays on base_url's host")
			require.Equal(t, base.Host, req.Host)
			require.Equal(t, "https", req.URL.Scheme)
		})
	}
}

func TestHTTPValidation(t *testing.T) {
	t.Parallel()
	doer := &fakeDoer{}
	p, err := NewWithDoer("p", httpConfig("https://api.example.org", config.HTTPRequest{Path: "/ip/{indicator}",
		NotFoundStatus: []int{404, 410}}), doer)
	require.NoError(t, err)
	_, err = p.Lookup(context.Background(), Request{Indicator: indicator.Indicator{Value: "203.0.113.7", Type: indicator.IPv4}}, secret.NewValue(testKey))
	require.NoError(t, err)
	_, _, v := doer.only(t)
	require.Equal(t, []int{404, 410}, v.NotFoundStatus)
	require.Nil(t, v.Schema)
}

func TestHTTPSupports(t *testing.T) {
	t.Parallel()
	cfg := httpConfig("https://api.example.org", config.HTTPRequest{Path: "/ip/{indicator}"})
	cfg.Types = []indicator.Type{indicator.IPv4, indicator.IPv6}
	p, err := NewWithDoer("p", cfg, &fakeDoer{})
	require.NoError(t, err)
	require.True(t, p.Supports(indicator.IPv4))
	require.True(t, p.Supports(indicator.IPv6))
	require.False(t, p.Supports(indicator.Domain))
	require.False(t, p.Supports(indicator.Auto))
	require.Equal(t, "p", p.Name())
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	ok := func() *config.Provider {
		return httpConfig("https://api.example.org", config.HTTPRequest{Path: "/ip/{indicator}"})
	}
	with := func(f func(*config.Provider)) *config.Provider { c := ok(); f(c); return c }
	withReq := func(f func(*config.HTTPRequest)) *config.Provider { c := ok(); f(c.Request); return c }
	tests := []struct {
		name string
		cfg  *config.Provider
		want string
	}{
		{"unknown kind", with(func(c *config.Provider) { c.Kind = "graphql" }), `kind: "graphql" is not one of socialeye, http`},
		{"plain http base", with(func(c *config.Provider) { c.BaseURL = "http://api.example.org" }), "base_url: must use https://"},
		{"no host", with(func(c *config.Provider) { c.BaseURL = "https:///x" }), "base_url: must be an absolute https:// URL"},
		{"userinfo", with(func(c *config.Provider) { c.BaseURL = "https://u:p@api.example.org" }), "base_url: must not contain userinfo"},
		{"base query", with(func(c *config.Provider) { c.BaseURL = "https://api.example.org/?k=v" }), "base_url: must not contain a query"},
		{"base fragment", with(func(c *config.Provider) { c.BaseURL = "https://api.example.org/#f" }), "base_url: must not contain a fragment"},
		{"http without request", with(func(c *config.Provider) { c.Request = nil }), "request: required for kind http"},
		{"socialeye with request", with(func(c *config.Provider) { c.Kind = KindSocialEye }), "request: only kind http"},
		{"http without types", with(func(c *config.Provider) { c.Types = nil }), "types: required for kind http"},
		{"auto type", with(func(c *config.Provider) { c.Types = []indicator.Type{indicator.Auto} }), `types[0]: "auto" is not an indicator type`},
		{"method", withReq(func(r *config.HTTPRequest) { r.Method = "DELETE" }), `request.method: "DELETE" is not GET or POST`},
		{"path without slash", withReq(func(r *config.HTTPRequest) { r.Path = "ip/{indicator}" }), `request.path: must start with "/"`},
		{"path dot-dot", withReq(func(r *config.HTTPRequest) { r.Path = "/v1/../admin/{indicator}" }), `request.path: dot segment ".."`},
		{"path escaped dot-dot", withReq(func(r *config.HTTPRequest) { r.Path = "/v1/%2E%2e/{indicator}" }), `request.path: dot segment "%2E%2e"`},
		{"path authority trick", withReq(func(r *config.HTTPRequest) { r.Path = "//evil.example/{indicator}" }), "request.path: empty path segment"},
		{"path with query", withReq(func(r *config.HTTPRequest) { r.Path = "/ip?x={indicator}" }), `request.path: character '?' must be percent-encoded`},
		{"path with fragment", withReq(func(r *config.HTTPRequest) { r.Path = "/ip#{indicator}" }), `request.path: character '#' must be percent-encoded`},
		{"path with space", withReq(func(r *config.HTTPRequest) { r.Path = "/my ip/{indicator}" }), `request.path: character ' ' must be percent-encoded`},
		{"path bad escape", withReq(func(r *config.HTTPRequest) { r.Path = "/a%zz/{indicator}" }), "request.path: bad escape"},
		{"unknown placeholder", withReq(func(r *config.HTTPRequest) { r.Path = "/ip/{indicater}" }), "request.path: unknown placeholder {indicater}"},
		{"unclosed placeholder", withReq(func(r *config.HTTPRequest) { r.Path = "/ip/{indicator" }), `request.path: unmatched "{"`},
		{"stray brace", withReq(func(r *config.HTTPRequest) { r.Path = "/ip/}" }), `request.path: unmatched "}"`},
		{"query placeholder typo", withReq(func(r *config.HTTPRequest) { r.Query = map[string]string{"q": "{ip}"} }), "request.query.q: unknown placeholder {ip}"},
		{"query holds key name", withReq(func(r *config.HTTPRequest) {
			r.Auth = config.Auth{In: "query", Name: "key"}
			r.Query = map[string]string{"key": "x"}
		}), "request.query.key: is where auth puts the key"},
		{"bearer with config Authorization", withReq(func(r *config.HTTPRequest) { r.Headers = map[string]string{"authorization": "Bearer literal"} }), "request.headers.authorization: credentials go through auth"},
		{"query auth with config Authorization", withReq(func(r *config.HTTPRequest) {
			r.Auth = config.Auth{In: "query", Name: "k"}
			r.Headers = map[string]string{"Authorization": "Basic literal"}
		}), "request.headers.Authorization: credentials go through auth"},
		{"Cookie header", withReq(func(r *config.HTTPRequest) { r.Headers = map[string]string{"Cookie": "session=literal"} }), "request.headers.Cookie: credentials go through auth"},
		{"Host header", withReq(func(r *config.HTTPRequest) { r.Headers = map[string]string{"Host": "evil.example"} }), "request.headers.Host: set by the transport"},
		{"auth header duplicated", withReq(func(r *config.HTTPRequest) {
			r.Auth = config.Auth{In: "header", Name: "X-Apikey"}
			r.Headers = map[string]string{"x-apikey": "literal"}
		}), "request.headers.x-apikey: is where auth puts the key"},
		{"header injection", withReq(func(r *config.HTTPRequest) { r.Headers = map[string]string{"X-A": "1\r\nX-B: 2"} }), "request.headers.X-A: control character"},
		{"bad header name", withReq(func(r *config.HTTPRequest) { r.Headers = map[string]string{"X A": "1"} }), `request.headers: header name "X A"`},
		{"auth in", withReq(func(r *config.HTTPRequest) { r.Auth = config.Auth{In: "cookie"} }), `request.auth.in: "cookie" is not bearer, header or query`},
		{"header auth without name", withReq(func(r *config.HTTPRequest) { r.Auth = config.Auth{In: "header"} }), "request.auth.name: empty header name"},
		{"header auth as Host", withReq(func(r *config.HTTPRequest) { r.Auth = config.Auth{In: "header", Name: "host"} }), "request.auth.name: host is set by the transport"},
		{"header auth as Cookie", withReq(func(r *config.HTTPRequest) { r.Auth = config.Auth{In: "header", Name: "cookie"} }), "request.auth.name: cookie cannot carry an API key"},
		{"query auth without name", withReq(func(r *config.HTTPRequest) { r.Auth = config.Auth{In: "query"} }), "request.auth.name: required for in: query"},
		{"query auth with prefix", withReq(func(r *config.HTTPRequest) { r.Auth = config.Auth{In: "query", Name: "k", Prefix: "p"} }), "request.auth.prefix: only applies to in: header"},
		{"bearer with name", withReq(func(r *config.HTTPRequest) { r.Auth = config.Auth{Name: "X"} }), "request.auth: name and prefix do not apply to in: bearer"},
		{"not found 200", withReq(func(r *config.HTTPRequest) { r.NotFoundStatus = []int{404, 200} }), "request.not_found_status[1]: 200 cannot mean not found"},
		{"not found 401", withReq(func(r *config.HTTPRequest) { r.NotFoundStatus = []int{401} }), "request.not_found_status[0]: 401 cannot mean not found"},
		{"not found 204", withReq(func(r *config.HTTPRequest) { r.NotFoundStatus = []int{204} }), "request.not_found_status[0]: 204 cannot mean not found"},
		{"not found 429", withReq(func(r *config.HTTPRequest) { r.NotFoundStatus = []int{429} }), "request.not_found_status[0]: 429 cannot mean not found"},
		{"not found 503", withReq(func(r *config.HTTPRequest) { r.NotFoundStatus = []int{503} }), "request.not_found_status[0]: 503 cannot mean not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := NewWithDoer("abuse", tt.cfg, &fakeDoer{})
			require.Error(t, err)
			require.Nil(t, p)
			require.Contains(t, err.Error(), `building provider "abuse": `+tt.want)
		})
	}
	t.Run("ok", func(t *testing.T) {
		t.Parallel()
		_, err := NewWithDoer("abuse", ok(), &fakeDoer{})
		require.NoError(t, err, "the base config of this table is valid, so each row tests one rule")
	})
}

func TestNewNeedsConfigAndDoer(t *testing.T) {
	t.Parallel()
	_, err := NewWithDoer("p", nil, &fakeDoer{})
	require.ErrorContains(t, err, `building provider "p": no configuration`)
	_, err = NewWithDoer("p", httpConfig("https://api.example.org", config.HTTPRequest{}), nil)
	require.ErrorContains(t, err, `building provider "p": no upstream transport`)
	_, _, err = New("p", nil)
	require.ErrorContains(t, err, `building provider "p": no configuration`)
}
