package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/sim"
)

// fakeListener pretends to listen on a routable address without binding one.
type fakeListener struct{ addr net.Addr }

func (f fakeListener) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (f fakeListener) Close() error              { return nil }
func (f fakeListener) Addr() net.Addr            { return f.addr }

func TestServeRefusesPlaintextOffLoopback(t *testing.T) {
	t.Parallel()
	ln := fakeListener{addr: &net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 8080}}
	err := Serve(context.Background(), ln, http.NotFoundHandler(), ListenerOptions{})
	require.ErrorIs(t, err, ErrPlaintextNotLoopback)
}

func TestServeFinishesInFlightRequestsOnShutdown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "finished")
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, h, ListenerOptions{ShutdownTimeout: 10 * time.Second}) }()

	type result struct {
		body string
		err  error
	}
	resc := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			resc <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		resc <- result{string(b), err}
	}()
	<-entered
	cancel() // SIGTERM arrives while the request is in flight
	select {
	case err := <-done:
		t.Fatalf("Serve returned before the in-flight request finished: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	res := <-resc
	require.NoError(t, res.err)
	require.Equal(t, "finished", res.body)
	require.NoError(t, <-done)
	_, err = net.DialTimeout("tcp", ln.Addr().String(), time.Second)
	require.Error(t, err, "the listener is closed after shutdown")
}

func TestServeTLSRefusesOldClients(t *testing.T) {
	t.Parallel()
	certFile, keyFile, certPEM := writeServerCert(t)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_ = Serve(ctx, ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), ListenerOptions{
			TLS: &config.ServerTLS{CertFile: certFile, KeyFile: keyFile},
		})
	}()
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(certPEM))

	old := &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10}
	_, err = tls.Dial("tcp", ln.Addr().String(), old)
	require.Error(t, err, "a TLS 1.1 client must be refused")

	cbc := &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256}}
	_, err = tls.Dial("tcp", ln.Addr().String(), cbc)
	require.Error(t, err, "a TLS 1.2 client offering only CBC suites must be refused")

	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool})
	require.NoError(t, err)
	require.GreaterOrEqual(t, conn.ConnectionState().Version, uint16(tls.VersionTLS12))
	require.NoError(t, conn.Close())
}

// writeServerCert writes a fresh certificate for 127.0.0.1 and its key
// (0600) for server.tls, and returns their paths and the certificate PEM.
func writeServerCert(t *testing.T) (certFile, keyFile string, certPEM []byte) {
	t.Helper()
	cert, certPEM, _, err := sim.GenerateCert([]string{"127.0.0.1"}, time.Hour)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, certPEM, 0o600))
	require.NoError(t, os.WriteFile(keyFile, keyPEM(t, cert), 0o600))
	return certFile, keyFile, certPEM
}

func keyPEM(t *testing.T, cert tls.Certificate) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}
