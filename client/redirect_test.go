package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNoCrossOriginRedirect proves the token never reaches another origin.
// Go's own rule would still send Authorization to the same host name on
// another port, so the client's stricter policy is what is under test.
func TestNoCrossOriginRedirect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		host func(other *url.URL) string // host:port to redirect to
	}{
		{"same IP, other port", func(o *url.URL) string { return o.Host }},
		{"other host name", func(o *url.URL) string { return "localhost:" + o.Port() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var otherHits, otherAuth atomic.Int32
			other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				otherHits.Add(1)
				if r.Header.Get("Authorization") != "" {
					otherAuth.Add(1)
				}
			}))
			t.Cleanup(other.Close)
			otherURL, err := url.Parse(other.URL)
			require.NoError(t, err)
			target := "http://" + tt.host(otherURL) + "/v1/lookup"
			gw := httptest.NewServer(http.RedirectHandler(target, http.StatusFound))
			t.Cleanup(gw.Close)

			c, rec := newTestClient(t, gw.URL)
			_, err = c.Lookup(context.Background(), "8.8.8.8", nil)
			require.ErrorIs(t, err, errCrossOriginRedirect)
			require.NotContains(t, err.Error(), testToken)
			require.Zero(t, otherAuth.Load(), "token sent to another origin")
			require.Zero(t, otherHits.Load())
			require.Empty(t, rec.recorded(), "a refused redirect is not retried")
		})
	}
}

func TestSameOriginRedirectKeepsAuthAndCallersPolicy(t *testing.T) {
	t.Parallel()
	s := &script{t: t, steps: []step{okStep(t, "lookup_mixed.json")}}
	mux := http.NewServeMux()
	mux.Handle("/old/v1/lookup", http.RedirectHandler("/v1/lookup?indicator=8.8.8.8", http.StatusMovedPermanently))
	mux.Handle("/v1/lookup", s)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	var policyCalls atomic.Int32
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { policyCalls.Add(1); return nil }}
	c, _ := newTestClient(t, srv.URL+"/old", WithHTTPClient(hc))
	_, err := c.Lookup(context.Background(), "8.8.8.8", nil)
	require.NoError(t, err)
	require.Equal(t, []string{"Bearer " + testToken}, s.auth)
	require.EqualValues(t, 1, policyCalls.Load(), "the caller's own redirect policy still applies")
}

func TestRedirectLoopStops(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.String(), http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	c, _ := newTestClient(t, srv.URL)
	_, err := c.Lookup(context.Background(), "8.8.8.8", nil)
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "10 redirects"), err.Error())
}
