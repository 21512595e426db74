package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/secret"
)

// The request is built by hand for speed (encodeQuery, setHeader, the
// SocialEye query); these tests pin it to what the net/url and net/http
// helpers it replaced produce, byte for byte.

// referenceHTTP is how HTTP.Lookup built its request with url.Values,
// Header.Clone and Header.Set: the URL (query included), form body and
// header.
func referenceHTTP(h *HTTP, ind indicator.Indicator, key string) (string, string, http.Header) {
	vals := map[string]string{placeholderIndicator: ind.Value, placeholderType: string(ind.Type)}
	expand := func(t template, escape func(string) string) string {
		var b strings.Builder
		for _, p := range t {
			if p.placeholder == "" {
				b.WriteString(p.literal)
				continue
			}
			b.WriteString(escape(vals[p.placeholder]))
		}
		return b.String()
	}
	escaped := h.base.RawPath + expand(h.one.path, url.PathEscape)
	u := &url.URL{Scheme: h.base.Scheme, Host: h.base.Host, Path: unescapePath(escaped), RawPath: escaped}
	params := url.Values{}
	for _, p := range h.one.query {
		params.Set(p.name, expand(p.value, identity))
	}
	if h.auth.in == AuthQuery {
		params.Set(h.auth.name, key)
	}
	var body string
	if h.one.method == http.MethodPost {
		body = params.Encode()
	} else {
		u.RawQuery = params.Encode()
	}
	hdr := h.header.Clone()
	if body != "" {
		hdr.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	switch h.auth.in {
	case AuthBearer:
		hdr.Set("Authorization", "Bearer "+key)
	case AuthHeader:
		hdr.Set(h.auth.name, h.auth.prefix+key)
	}
	return u.String(), body, hdr
}

// awkward are values that escape differently in a query ("+" for a space,
// "%2B" for "+"), a path and a form, or not at all.
var awkward = []string{"203.0.113.7", "a b", "a+b", "a%20b", "100%", "x=1&y=2", "j\u00f6rg m\u00fcller", "?#[]@!$'()*,;:",
	"-_.~", "", "\x00\x7f", "a/b", "\u00a0", "tab\there"}

func TestHTTPRequestMatchesURLValues(t *testing.T) {
	t.Parallel()
	queries := []map[string]string{
		nil,
		{"q": "{indicator}"},
		{"b": "{indicator}", "d": "type:{type}", "f": "lit eral+&", "a b": "{type}/{indicator}/{type}"},
		{"z": "", "\u00e9": "{indicator}", "A": "{indicator}"},
	}
	auths := []config.Auth{{}, {In: "header", Name: "x-api-key", Prefix: "Key "},
		// The key's place among the parameters: first, between, last.
		{In: "query", Name: "0key"}, {In: "query", Name: "c key"}, {In: "query", Name: "key"}}
	headers := map[string]string{"X-Client": "intelgate", "accept": "application/vnd.api+json"}
	for _, method := range []string{"GET", "POST"} {
		for qi, q := range queries {
			for _, a := range auths {
				for _, path := range []string{"/v1/lookup", "/v1/{type}/{indicator}"} {
					name := fmt.Sprintf("%s/query%d/%s%s%s", method, qi, a.In, a.Name, path)
					cfg := httpConfig("https://api.example.org/base%20dir", config.HTTPRequest{
						Method: method, Path: path, Query: q, Auth: a, Headers: headers})
					t.Run(name, func(t *testing.T) {
						t.Parallel()
						for _, v := range awkward {
							for _, key := range []string{testKey, "plain", "sp ace"} {
								checkHTTPRequest(t, cfg, indicator.Indicator{Value: v, Type: indicator.Username}, key)
							}
						}
					})
				}
			}
		}
	}
}

func checkHTTPRequest(t *testing.T, cfg *config.Provider, ind indicator.Indicator, key string) {
	t.Helper()
	doer := &fakeDoer{}
	p, err := NewWithDoer("p", cfg, doer)
	require.NoError(t, err)
	_, err = p.Lookup(context.Background(), Request{Indicator: ind}, secret.NewValue(key))
	if errors.Is(err, ErrUnsafeIndicator) {
		return // nothing is built for a value refused in the path
	}
	require.NoError(t, err)
	req, body, _ := doer.only(t)
	wantURL, wantBody, wantHeader := referenceHTTP(p.(*HTTP), ind, key)
	require.Equal(t, wantURL, req.URL.String(), "indicator %q", ind.Value)
	require.Equal(t, wantBody, body, "indicator %q", ind.Value)
	require.Equal(t, wantHeader, req.Header, "indicator %q", ind.Value)
	require.Equal(t, req.URL.Host, req.Host)
	// Each value slice is its own: appending to one leaves the rest.
	for name := range req.Header {
		req.Header[name] = append(req.Header[name], "appended")
	}
	for name, vv := range wantHeader {
		require.Equal(t, append(vv, "appended"), req.Header[name], name)
	}
}

func FuzzHTTPRequestMatchesURLValues(f *testing.F) {
	for _, v := range awkward {
		f.Add(v, testKey)
	}
	cfg := httpConfig("https://api.example.org", config.HTTPRequest{Path: "/v1/{indicator}",
		Query: map[string]string{"q": "{indicator}", "t": "{type}:{indicator}"}, Auth: config.Auth{In: "query", Name: "r"}})
	form := httpConfig("https://api.example.org", config.HTTPRequest{Method: "POST", Path: "/v1",
		Query: map[string]string{"q": "{indicator}"}, Auth: config.Auth{In: "query", Name: "api key"}})
	f.Fuzz(func(t *testing.T, value, key string) {
		if key == "" {
			return // no key: refused before a request is built
		}
		ind := indicator.Indicator{Value: value, Type: indicator.Username}
		if value == "" {
			return // refused: empty indicator
		}
		checkHTTPRequest(t, cfg, ind, key)
		checkHTTPRequest(t, form, ind, key)
	})
}

// TestSocialEyeQueryMatchesURLValues: query and type are QueryEscape'd
// in name order, as url.Values.Encode writes them.
func TestSocialEyeQueryMatchesURLValues(t *testing.T) {
	t.Parallel()
	for _, v := range awkward[:len(awkward)-1] {
		for _, typ := range []string{"", "ipv4", "a b", "x&query=y", "+"} {
			if v == "" {
				continue
			}
			doer := &fakeDoer{}
			p, err := NewWithDoer("se", &config.Provider{Kind: KindSocialEye, BaseURL: "https://api.socialeye.net"}, doer)
			require.NoError(t, err)
			_, err = p.Lookup(context.Background(), Request{Indicator: indicator.Indicator{Value: v, Type: indicator.Username},
				UpstreamType: typ}, secret.NewValue(testKey))
			require.NoError(t, err)
			req, _, _ := doer.only(t)
			wantType := typ
			if wantType == "" {
				wantType = "auto"
			}
			require.Equal(t, url.Values{"query": {v}, "type": {wantType}}.Encode(), req.URL.RawQuery)
			require.Equal(t, "https://api.socialeye.net/v1/resolve?"+req.URL.RawQuery, req.URL.String())
			want := http.Header{}
			want.Set("Accept", "application/json")
			want.Set("Authorization", "Bearer "+testKey)
			require.Equal(t, want, req.Header)
			req.Header["Accept"] = append(req.Header["Accept"], "x")
			require.Equal(t, []string{"Bearer " + testKey}, req.Header["Authorization"])
		}
	}
}

// FuzzCheckSegments: checkSegments walks the segments as strings.Split
// would list them.
func FuzzCheckSegments(f *testing.F) {
	for _, s := range []string{"", "/", "//", "/a/", "/a//b", "/.", "/a/%2E%2e/", "a", "/a/b/", "/a/./b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, escaped string) {
		want := func() error {
			if escaped == "" {
				return nil
			}
			if !strings.HasPrefix(escaped, "/") {
				return errors.New(`must start with "/"`)
			}
			segs := strings.Split(escaped[1:], "/")
			for i, seg := range segs {
				switch strings.ReplaceAll(strings.ToLower(seg), "%2e", ".") {
				case "":
					if i < len(segs)-1 {
						return errors.New("empty path segment")
					}
				case ".", "..":
					return fmt.Errorf("dot segment %q", seg)
				}
			}
			return nil
		}()
		got := checkSegments(escaped)
		if (want == nil) != (got == nil) || want != nil && want.Error() != got.Error() {
			t.Fatalf("checkSegments(%q) = %v, want %v", escaped, got, want)
		}
	})
}
