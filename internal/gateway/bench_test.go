package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/lookup"
	"github.com/intelgate/intelgate/internal/provider"
)

// BenchmarkRequestContext is the per-request cost of the gateway's own
// request state: the request id, the access log's facts, the request
// timeout and the authenticated identity, around a handler that does
// nothing. The request and recorder are made once; the server makes them
// per request either way.
func BenchmarkRequestContext(b *testing.B) {
	g, err := New(Options{Auth: fakeAuth{}, Lookups: newLookups(b, lookup.Options{}),
		RequestTimeout: time.Minute})
	require.NoError(b, err)
	h := g.withRequestContext(g.authenticated(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if identityFrom(r.Context()).Client != "siem" {
			b.Fatal("no identity")
		}
		w.WriteHeader(http.StatusNoContent)
	})))
	req := httptest.NewRequest(http.MethodGet, "/v1/resolve?query=203.0.113.7", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	rec := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		clear(rec.Header())
		h.ServeHTTP(rec, req)
	}
}

// BenchmarkResolve is a /v1/resolve answered by a provider that does no
// I/O, through every layer of the gateway's handler.
func BenchmarkResolve(b *testing.B) {
	g, err := New(Options{Auth: fakeAuth{}, RequestTimeout: time.Minute,
		Lookups: newLookups(b, lookup.Options{
			Providers:       []provider.Provider{okProvider("socialeye", allTypes...)},
			ResolveProvider: "socialeye"})})
	require.NoError(b, err)
	h := g.Handler()
	req := httptest.NewRequest(http.MethodGet, "/v1/resolve?query=203.0.113.7", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}
