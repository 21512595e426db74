package upstream

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// connectProxy is a minimal CONNECT-only forward proxy on loopback; it
// counts tunnels so tests can prove traffic went through it.
func connectProxy(t *testing.T) (*url.URL, *atomic.Int32) {
	t.Helper()
	var tunnels atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		dst, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, "dial failed", http.StatusBadGateway)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			_ = dst.Close()
			return
		}
		tunnels.Add(1)
		_, _ = rw.WriteString("HTTP/1.1 200 Connection established\r\n\r\n")
		_ = rw.Flush()
		go func() { _, _ = io.Copy(dst, rw); _ = dst.Close() }()
		_, _ = io.Copy(conn, dst)
		_ = conn.Close()
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	return u, &tunnels
}

// TestPinsHoldThroughProxy: through a CONNECT proxy the TLS session is end
// to end, so the upstream's chain is verified and pinned, not the proxy's.
func TestPinsHoldThroughProxy(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	srv := startTLS(t, p.leaf, okJSON, nil)

	tests := []struct {
		name    string
		pins    []string
		wantErr bool
	}{
		{"matching pin", []string{Pin(p.inter.Cert)}, false},
		{"mismatching pin", []string{randomPin(t)}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			proxyURL, tunnels := connectProxy(t)
			c := newClient(t, Options{CAFile: p.caFile, Pins: tc.pins, Proxy: http.ProxyURL(proxyURL)})
			_, err := get(t.Context(), t, c, srv.URL, Validation{})
			require.Equal(t, int32(1), tunnels.Load(), "request went through the proxy")
			if !tc.wantErr {
				require.NoError(t, err)
				return
			}
			ue := requireKind(t, err, KindTLS)
			require.Equal(t, "certificate public key does not match any configured pin", ue.Detail)
		})
	}
}
