package sim

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/clocktest"
)

const testKey = "se_test_key_0123456789"

func newFakeClock() *clocktest.Clock {
	return clocktest.New(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC))
}

// start runs sim over real TLS on loopback and returns it with a client
// that trusts only its certificate.
func start(t *testing.T, s *Simulator) (*Server, *http.Client) {
	t.Helper()
	srv, err := Start("127.0.0.1:0", true, s)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tlsConfigFor(srv)},
	}
	t.Cleanup(client.CloseIdleConnections)
	return srv, client
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

// resolveURL builds /v1/resolve?query=…&type=… (type omitted when empty).
func resolveURL(base, query, typ string) string {
	v := url.Values{}
	if query != "" {
		v.Set("query", query)
	}
	if typ != "" {
		v.Set("type", typ)
	}
	return base + "/v1/resolve?" + v.Encode()
}

func do(t *testing.T, c *http.Client, method, target, key string, body io.Reader) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, target, body)
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

func get(t *testing.T, c *http.Client, srv *Server, query, key string) reply {
	t.Helper()
	return do(t, c, http.MethodGet, resolveURL(srv.URL, query, ""), key, nil)
}

// requireAPIError checks a JSON error body with the given code.
func requireAPIError(t *testing.T, r reply, status int, code string) {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.body)
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	var e apiError
	require.NoError(t, json.Unmarshal(r.body, &e))
	require.Equal(t, code, e.Error)
	require.NotEmpty(t, e.Message)
}

func postJSON(t *testing.T, c *http.Client, target, body string) reply {
	t.Helper()
	return do(t, c, http.MethodPost, target, "", strings.NewReader(body))
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 2*time.Millisecond, what)
}

// tlsConfigFor trusts only srv's generated certificate.
func tlsConfigFor(srv *Server) *tls.Config {
	return &tls.Config{RootCAs: srv.CertPool, MinVersion: tls.VersionTLS12}
}
