package sim

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func TestResolveAuth(t *testing.T) {
	t.Parallel()
	srv, c := start(t, New(Options{APIKeys: []string{testKey, "second-key"}}))
	tests := []struct {
		name   string
		header string
		status int
	}{
		{"no header", "", 401},
		{"wrong key", "Bearer nope", 401},
		{"key prefix", "Bearer " + testKey[:5], 401},
		{"basic scheme", "Basic " + testKey, 401},
		{"empty bearer", "Bearer ", 401},
		{"right key", "Bearer " + testKey, 200},
		{"second key", "Bearer second-key", 200},
		{"scheme case-insensitive", "bearer " + testKey, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(http.MethodGet, resolveURL(srv.URL, "alice", ""), nil)
			require.NoError(t, err)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			resp, err := c.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			var buf bytes.Buffer
			_, err = buf.ReadFrom(resp.Body)
			require.NoError(t, err)
			r := reply{status: resp.StatusCode, header: resp.Header, body: buf.Bytes()}
			if tt.status == 401 {
				requireAPIError(t, r, 401, "invalid_api_key")
				require.Contains(t, r.header.Get("WWW-Authenticate"), "Bearer")
				require.NotContains(t, string(r.body), testKey[:5], "401 must not echo the key")
				return
			}
			require.Equal(t, tt.status, r.status, "body: %s", r.body)
		})
	}
}

func TestResolveAnyKeyWhenNoneConfigured(t *testing.T) {
	t.Parallel()
	srv, c := start(t, New(Options{}))
	require.Equal(t, 200, get(t, c, srv, "alice", "anything").status)
	requireAPIError(t, get(t, c, srv, "alice", ""), 401, "invalid_api_key")
}

func TestResolveDeterministic(t *testing.T) {
	t.Parallel()
	srv, c := start(t, New(Options{APIKeys: []string{testKey}}))
	queries := []string{"alice@example.com", "bob", "+14155550100", "8.8.8.8", "example.org", "2001:db8::1"}
	bodies := map[string]bool{}
	for _, q := range queries {
		a := get(t, c, srv, q, testKey)
		b := get(t, c, srv, q, testKey)
		require.Equal(t, 200, a.status)
		require.Equal(t, "application/json", a.header.Get("Content-Type"))
		require.Equal(t, a.body, b.body, "same query must give byte-identical bodies")
		bodies[string(a.body)] = true

		var res Result
		dec := json.NewDecoder(bytes.NewReader(a.body))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(&res))
		require.Equal(t, q, res.Query)
		require.Equal(t, "auto", res.Type)
		require.NotEmpty(t, res.Profiles)
		require.NotNil(t, res.Breaches, "breaches is [] not null")
		require.LessOrEqual(t, res.FirstSeen, res.LastSeen)
		require.GreaterOrEqual(t, res.Sources, len(res.Profiles)+len(res.Breaches))
		for _, p := range res.Profiles {
			require.True(t, strings.HasPrefix(p.URL, "https://"), p.URL)
			require.True(t, p.Confidence >= 0.5 && p.Confidence < 1, "confidence %v", p.Confidence)
		}
	}
	require.Len(t, bodies, len(queries), "different queries must give different bodies")
}

func TestResolveGolden(t *testing.T) {
	t.Parallel()
	// Bodies must stay byte-identical across builds and Go releases: caches
	// and benchmarks compare them.
	for _, tc := range []struct{ query, typ, file string }{
		{"alice@example.com", "auto", "resolve_alice_email.golden.json"},
		{"alice@example.com", "email", "resolve_alice_email_typed.golden.json"},
		{"8.8.8.8", "auto", "resolve_ipv4.golden.json"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			got := resolveBody(tc.query, tc.typ)
			path := filepath.Join("testdata", tc.file)
			if *update {
				require.NoError(t, os.WriteFile(path, append(got, '\n'), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, string(bytes.TrimSpace(want)), string(got))
		})
	}
}

func TestDetectType(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"alice@example.com":     "email",
		"+14155550100":          "phone",
		"8.8.8.8":               "ipv4",
		"2001:db8::1":           "ipv6",
		"https://example.org":   "url",
		"example.org":           "domain",
		strings.Repeat("a", 32): "md5",
		strings.Repeat("b", 40): "sha1",
		strings.Repeat("c", 64): "sha256",
		"alice_99":              "username",
	}
	for in, want := range tests {
		require.Equal(t, want, detectType(in), in)
	}
}

func TestResolveTypeParameter(t *testing.T) {
	t.Parallel()
	srv, c := start(t, New(Options{APIKeys: []string{testKey}}))
	r := do(t, c, http.MethodGet, resolveURL(srv.URL, "alice@example.com", "email"), testKey, nil)
	require.Equal(t, 200, r.status)
	var res Result
	require.NoError(t, json.Unmarshal(r.body, &res))
	require.Equal(t, "email", res.Type)
	require.Equal(t, "email", res.DetectedType)
}

func TestResolveBadRequests(t *testing.T) {
	t.Parallel()
	srv, c := start(t, New(Options{APIKeys: []string{testKey}}))
	tests := []struct {
		name, method, target string
		status               int
		code                 string
	}{
		{"missing query", "GET", srv.URL + "/v1/resolve", 400, "missing_query"},
		{"empty query", "GET", srv.URL + "/v1/resolve?query=", 400, "missing_query"},
		{"query too long", "GET", resolveURL(srv.URL, strings.Repeat("a", MaxQueryLen+1), ""), 400, "query_too_long"},
		{"unknown type", "GET", resolveURL(srv.URL, "alice", "shoe-size"), 400, "invalid_type"},
		{"POST", "POST", resolveURL(srv.URL, "alice", ""), 405, "method_not_allowed"},
		{"DELETE", "DELETE", resolveURL(srv.URL, "alice", ""), 405, "method_not_allowed"},
		{"unknown path", "GET", srv.URL + "/v2/resolve?query=alice", 404, "no_route"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := do(t, c, tt.method, tt.target, testKey, nil)
			requireAPIError(t, r, tt.status, tt.code)
			if tt.status == 405 {
				require.Equal(t, "GET", r.header.Get("Allow"))
			}
		})
	}
}

func TestResolveNotFoundRule(t *testing.T) {
	t.Parallel()
	srv, c := start(t, New(Options{APIKeys: []string{testKey}}))
	for _, q := range []string{"notfound-alice", "NotFound@example.com", "notfound.example.org"} {
		requireAPIError(t, get(t, c, srv, q, testKey), 404, "not_found")
	}
	require.Equal(t, 200, get(t, c, srv, "found-alice", testKey).status)
	require.Equal(t, 200, get(t, c, srv, "alice-notfound", testKey).status, "only a prefix marks not-found")
}
