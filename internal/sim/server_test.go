package sim

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/upstream"
)

func TestPinMatchesServedCertificate(t *testing.T) {
	t.Parallel()
	srv, _ := start(t, New(Options{}))
	require.True(t, strings.HasPrefix(srv.Pin, "sha256/"), srv.Pin)

	conn, err := tls.Dial("tcp", strings.TrimPrefix(srv.URL, "https://"), tlsConfigFor(srv))
	require.NoError(t, err)
	defer conn.Close()
	state := conn.ConnectionState()
	require.GreaterOrEqual(t, state.Version, uint16(tls.VersionTLS12))
	require.Len(t, state.PeerCertificates, 1)
	served := state.PeerCertificates[0]
	require.Equal(t, srv.Pin, upstream.Pin(served))

	block, _ := pem.Decode(srv.CAPEM)
	require.NotNil(t, block)
	require.Equal(t, "CERTIFICATE", block.Type)
	require.Equal(t, served.Raw, block.Bytes, "CAPEM is the served certificate")
}

func TestServedCertificateNamesAndTrust(t *testing.T) {
	t.Parallel()
	srv, _ := start(t, New(Options{}))
	addr := strings.TrimPrefix(srv.URL, "https://")
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	tests := []struct {
		name    string
		config  *tls.Config
		wantErr string
	}{
		{"trusted via CertPool", tlsConfigFor(srv), ""},
		{"trusted for localhost", &tls.Config{RootCAs: srv.CertPool, ServerName: "localhost"}, ""},
		{"trusted for ::1", &tls.Config{RootCAs: srv.CertPool, ServerName: "::1"}, ""},
		{"wrong host name", &tls.Config{RootCAs: srv.CertPool, ServerName: "example.com"}, "certificate is valid for"},
		{"system roots only", &tls.Config{}, "certificate signed by unknown authority"},
		{"TLS 1.1 refused", &tls.Config{RootCAs: srv.CertPool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, "protocol version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", port), tt.config)
			if tt.wantErr == "" {
				require.NoError(t, err)
				require.NoError(t, conn.Close())
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestGenerateCert(t *testing.T) {
	t.Parallel()
	cert, certPEM, pin, err := GenerateCert([]string{"127.0.0.1", "sim.test"}, time.Hour)
	require.NoError(t, err)
	leaf := cert.Leaf
	require.NotNil(t, leaf)
	require.True(t, leaf.IsCA, "usable as its own CA file")
	require.Equal(t, []string{"sim.test"}, leaf.DNSNames)
	require.Len(t, leaf.IPAddresses, 1)
	require.Equal(t, x509.ECDSA, leaf.PublicKeyAlgorithm)
	require.WithinDuration(t, time.Now().Add(-time.Hour), leaf.NotBefore, time.Minute)
	require.WithinDuration(t, time.Now().Add(time.Hour), leaf.NotAfter, time.Minute)
	require.Equal(t, upstream.Pin(leaf), pin)

	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(certPEM))
	_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "sim.test"})
	require.NoError(t, err)

	_, _, pin2, err := GenerateCert([]string{"127.0.0.1"}, time.Hour)
	require.NoError(t, err)
	require.NotEqual(t, pin, pin2, "every certificate has a fresh key")
}

func TestStartPlaintext(t *testing.T) {
	t.Parallel()
	srv, err := Start("127.0.0.1:0", false, New(Options{}))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	require.True(t, strings.HasPrefix(srv.URL, "http://127.0.0.1:"), srv.URL)
	require.Empty(t, srv.Pin)
	require.Nil(t, srv.CertPool)
	resp, err := http.Get(srv.URL + "/_sim/stats")
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, 200, resp.StatusCode)
}

func TestStartBadAddr(t *testing.T) {
	t.Parallel()
	_, err := Start("127.0.0.1:notaport", true, New(Options{}))
	require.ErrorContains(t, err, "listening on 127.0.0.1:notaport")
}
