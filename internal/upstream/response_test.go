package upstream

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/buildinfo"
)

// jsonOfSize is a JSON object of exactly n bytes (n ≥ 8).
func jsonOfSize(n int) string {
	return `{"a":"` + strings.Repeat("x", n-8) + `"}`
}

// chunked writes body in two flushed halves, so no Content-Length is sent
// and the cap must be enforced while reading.
func chunked(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		half := len(body) / 2
		_, _ = io.WriteString(w, body[:half])
		http.NewResponseController(w).Flush()
		_, _ = io.WriteString(w, body[half:])
	}
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	s, err := jsonschema.NewCompiler().Compile("testdata/score.schema.json")
	require.NoError(t, err)
	return s
}

func TestResponseValidation(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	schema := compileSchema(t)
	const limit = 64
	tests := []struct {
		name       string
		handler    http.Handler
		v          Validation
		wantKind   Kind // "" means success
		wantDetail string
	}{
		{name: "object", handler: okJSON},
		{name: "charset parameter", handler: reply(200, "application/json; charset=utf-8", `{}`)},
		{name: "problem+json", handler: reply(200, "application/problem+json", `{}`)},
		{name: "vendor +json", handler: reply(200, "application/vnd.socialeye.v1+json", `{}`)},
		{name: "upper-case media type", handler: reply(200, "Application/JSON", `{}`)},
		{name: "201 created", handler: reply(201, "application/json", `{}`)},
		{name: "exactly the cap", handler: reply(200, "application/json", jsonOfSize(limit))},
		{name: "exactly the cap, chunked", handler: chunked(jsonOfSize(limit))},
		{name: "one over the cap", handler: reply(200, "application/json", jsonOfSize(limit+1)),
			wantKind: KindTooLarge, wantDetail: "response body exceeds the 64-byte limit"},
		{name: "one over the cap, chunked", handler: chunked(jsonOfSize(limit + 1)),
			wantKind: KindTooLarge, wantDetail: "exceeds the 64-byte limit"},
		{name: "text/html", handler: reply(200, "text/html", `<html>`),
			wantKind: KindContentType, wantDetail: "response has Content-Type text/html; want application/json"},
		{name: "unlisted type is not echoed", handler: reply(200, "application/x-leaky-token123", `{}`),
			wantKind: KindContentType, wantDetail: "response has a non-JSON Content-Type; want application/json"},
		{name: "bare +json", handler: reply(200, "application/+json", `{}`), wantKind: KindContentType},
		{name: "json under text", handler: reply(200, "text/json", `{}`), wantKind: KindContentType},
		{name: "unparseable content type", handler: reply(200, "application/json; =", `{}`),
			wantKind: KindContentType, wantDetail: "unparseable Content-Type"},
		{name: "no content type", handler: reply(200, "", `{}`),
			wantKind: KindContentType, wantDetail: "response has no Content-Type"},
		{name: "truncated JSON", handler: reply(200, "application/json", `{"a":`),
			wantKind: KindMalformed, wantDetail: "response body is not valid JSON"},
		{name: "trailing garbage", handler: reply(200, "application/json", `{} {}`),
			wantKind: KindMalformed, wantDetail: "not valid JSON"},
		{name: "empty body", handler: reply(200, "application/json", ``), wantKind: KindMalformed},
		{name: "duplicate member names", handler: reply(200, "application/json", `{"score":1,"score":99}`),
			wantKind: KindMalformed, wantDetail: "not I-JSON (RFC 7493): duplicate member name"},
		{name: "lone surrogate", handler: reply(200, "application/json", `{"s":"\udfff"}`),
			wantKind: KindMalformed, wantDetail: "lone surrogate"},
		{name: "array", handler: reply(200, "application/json", ` [1,2]`),
			wantKind: KindMalformed, wantDetail: "response body is a JSON array, not an object"},
		{name: "string", handler: reply(200, "application/json", `"hi"`), wantKind: KindMalformed, wantDetail: "JSON string"},
		{name: "null", handler: reply(200, "application/json", `null`), wantKind: KindMalformed, wantDetail: "JSON null"},
		{name: "number", handler: reply(200, "application/json", `42`), wantKind: KindMalformed, wantDetail: "JSON number"},
		{name: "schema match", handler: reply(200, "application/json", `{"score":7}`), v: Validation{Schema: schema}},
		{name: "schema type mismatch", handler: reply(200, "application/json", `{"score":"tok_leak_me"}`), v: Validation{Schema: schema},
			wantKind: KindSchema, wantDetail: "response does not match the provider's JSON Schema (failed keyword #/properties/score/type)"},
		{name: "schema required missing", handler: reply(200, "application/json", `{}`), v: Validation{Schema: schema},
			wantKind: KindSchema, wantDetail: "failed keyword #/required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startTLS(t, p.leaf, tc.handler, nil)
			c := newClient(t, Options{CAFile: p.caFile, MaxResponseBytes: limit})
			resp, err := get(t.Context(), t, c, srv.URL, tc.v)
			if tc.wantKind == "" {
				require.NoError(t, err)
				require.Equal(t, byte('{'), resp.Body[0])
				return
			}
			require.Nil(t, resp, "nothing partial is returned")
			ue := requireKind(t, err, tc.wantKind)
			require.Contains(t, ue.Detail, tc.wantDetail)
			require.NotContains(t, err.Error(), "tok_leak_me", "body bytes never reach an error")
		})
	}
}

func TestStatusMapping(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	now := time.Date(2026, time.November, 27, 9, 0, 0, 0, time.UTC)
	withHeader := func(status int, k, v string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set(k, v)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, `{"error":"x"}`)
		}
	}
	tests := []struct {
		name       string
		handler    http.Handler
		v          Validation
		wantKind   Kind
		wantRetry  time.Duration
		wantDetail string
	}{
		{name: "401", handler: reply(401, "application/json", `{}`), wantKind: KindAuth,
			wantDetail: "upstream refused the gateway's credentials (401 Unauthorized)"},
		{name: "403", handler: reply(403, "text/plain", `no`), wantKind: KindAuth},
		{name: "404", handler: reply(404, "application/json", `{}`), wantKind: KindNotFound},
		{name: "custom not-found status", handler: reply(410, "application/json", `{}`),
			v: Validation{NotFoundStatus: []int{404, 410}}, wantKind: KindNotFound},
		{name: "404 when not listed as not-found", handler: reply(404, "application/json", `{}`),
			v: Validation{NotFoundStatus: []int{410}}, wantKind: KindRejected},
		{name: "204 as not-found", handler: reply(204, "", ``),
			v: Validation{NotFoundStatus: []int{204}}, wantKind: KindNotFound},
		{name: "429 with seconds", handler: withHeader(429, "Retry-After", "7"), wantKind: KindRateLimited, wantRetry: 7 * time.Second,
			wantDetail: "upstream rate limit reached (429 Too Many Requests)"},
		{name: "429 with HTTP-date", handler: withHeader(429, "Retry-After", "Fri, 27 Nov 2026 09:01:30 GMT"),
			wantKind: KindRateLimited, wantRetry: 90 * time.Second},
		{name: "429 with past date", handler: withHeader(429, "Retry-After", "Fri, 27 Nov 2026 08:00:00 GMT"), wantKind: KindRateLimited},
		{name: "429 without Retry-After", handler: reply(429, "application/json", `{}`), wantKind: KindRateLimited},
		{name: "429 with garbage Retry-After", handler: withHeader(429, "Retry-After", "soon"), wantKind: KindRateLimited},
		{name: "500", handler: reply(500, "text/html", `oops`), wantKind: KindUpstream,
			wantDetail: "upstream server error (500 Internal Server Error)"},
		{name: "503 with Retry-After", handler: withHeader(503, "Retry-After", "30"), wantKind: KindUpstream, wantRetry: 30 * time.Second},
		{name: "400", handler: reply(400, "application/json", `{}`), wantKind: KindRejected,
			wantDetail: "upstream rejected the request (400 Bad Request)"},
		{name: "304", handler: reply(304, "", ``), wantKind: KindRejected},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startTLS(t, p.leaf, tc.handler, nil)
			c := newClient(t, Options{CAFile: p.caFile})
			c.now = func() time.Time { return now }
			_, err := get(t.Context(), t, c, srv.URL, tc.v)
			ue := requireKind(t, err, tc.wantKind)
			require.NotZero(t, ue.Status)
			require.Equal(t, tc.wantRetry, ue.RetryAfter)
			require.Contains(t, ue.Detail, tc.wantDetail)
		})
	}
}

// TestRedirectRefused: the target of a redirect is never contacted, so a
// key in the query string cannot follow it to another host.
func TestRedirectRefused(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	var hits atomic.Int32
	target := startTLS(t, p.leaf, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		okJSON(w, r)
	}), nil)
	for _, code := range []int{301, 302, 303, 307, 308} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			t.Parallel()
			srv := startTLS(t, p.leaf, http.RedirectHandler(target.URL+"/elsewhere?apikey=k", code), nil)
			c := newClient(t, Options{CAFile: p.caFile})
			_, err := get(t.Context(), t, c, srv.URL, Validation{})
			ue := requireKind(t, err, KindRejected)
			require.Equal(t, code, ue.Status)
			require.Contains(t, ue.Detail, "redirects are refused")
			require.NotContains(t, err.Error(), "elsewhere")
		})
	}
	t.Cleanup(func() { require.Zero(t, hits.Load(), "redirect target was contacted") })
}

func TestRequestHeaders(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	seen := make(chan http.Header, 2)
	srv := startTLS(t, p.leaf, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		okJSON(w, r)
	}), nil)
	c := newClient(t, Options{CAFile: p.caFile})

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	_, err = c.Do(t.Context(), req, Validation{})
	require.NoError(t, err)
	h := <-seen
	require.Equal(t, "application/json", h.Get("Accept"))
	require.Equal(t, "intelgate/"+buildinfo.Version(), h.Get("User-Agent"), "the version `intelgate version` prints")
	require.Empty(t, req.Header.Get("Accept"), "the caller's request is not modified")

	req.Header.Set("User-Agent", "custom/1")
	req.Header.Set("Accept", "application/vnd.x+json")
	_, err = c.Do(t.Context(), req, Validation{})
	require.NoError(t, err)
	h = <-seen
	require.Equal(t, "custom/1", h.Get("User-Agent"))
	require.Equal(t, "application/vnd.x+json", h.Get("Accept"))
}
