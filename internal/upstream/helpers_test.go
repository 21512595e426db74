package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/intelgate/intelgate/internal/upstream/upstreamtest"
	"github.com/stretchr/testify/require"
)

// pki is a root → intermediate → leaf chain for 127.0.0.1 and the CA file
// trusting the root.
type pki struct {
	root, inter *upstreamtest.CA
	leaf        tls.Certificate
	caFile      string
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	root := upstreamtest.NewCA(t, "Test Root")
	inter := root.Intermediate(t, "Test Intermediate")
	return &pki{
		root:   root,
		inter:  inter,
		leaf:   inter.Leaf(t, upstreamtest.LeafOptions{}),
		caFile: root.WriteFile(t),
	}
}

// startTLS serves h over real TLS on loopback with cert; tweak may change
// the server's TLS config (versions, suites).
func startTLS(t *testing.T, cert tls.Certificate, h http.Handler, tweak func(*tls.Config)) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake failures are the point
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	if tweak != nil {
		tweak(srv.TLS)
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func newClient(t *testing.T, o Options) *Client {
	t.Helper()
	c, err := New(o)
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func get(ctx context.Context, t *testing.T, c *Client, url string, v Validation) (*Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	return c.Do(ctx, req, v)
}

// requireKind asserts err is an *Error of kind and returns it.
func requireKind(t *testing.T, err error, kind Kind) *Error {
	t.Helper()
	require.Error(t, err)
	var ue *Error
	require.True(t, errors.As(err, &ue), "want *upstream.Error, got %T: %v", err, err)
	require.Equal(t, kind, ue.Kind, "error: %v", err)
	return ue
}

// reply answers with a fixed status, content type and body. An empty
// contentType sends no Content-Type at all (no sniffing).
func reply(status int, contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if contentType == "" {
			w.Header()["Content-Type"] = nil
		} else {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

var okJSON = reply(http.StatusOK, "application/json", `{"ok":true}`)

// blockUntilGone holds the request until the client hangs up.
func blockUntilGone(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

func httptestPlain(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}
