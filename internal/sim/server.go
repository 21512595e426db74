package sim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/intelgate/intelgate/internal/upstream"
)

// DefaultAddr is where Start listens when addr is empty: loopback, free port.
const DefaultAddr = "127.0.0.1:0"

// certValidity is how long a generated simulator certificate lasts.
const certValidity = 30 * 24 * time.Hour

// shutdownGrace bounds how long Close waits for in-flight answers.
const shutdownGrace = 5 * time.Second

// Server is a running simulator.
type Server struct {
	URL      string         // https://127.0.0.1:PORT or http://…
	Pin      string         // sha256/… of the certificate's SPKI (TLS only)
	CAPEM    []byte         // the self-signed certificate, PEM (TLS only)
	CertPool *x509.CertPool // pool holding it (TLS only)
	Sim      *Simulator

	srv       *http.Server
	cancel    context.CancelFunc // ends every request context, so slow answers stop
	served    chan error
	closeOnce sync.Once
	closeErr  error
}

// Start serves s on addr ("127.0.0.1:0" for a free port), over TLS with a
// fresh self-signed certificate for 127.0.0.1, ::1 and localhost when useTLS.
// The server speaks HTTP/1.1 only: the reset fault needs to hijack the
// connection, which HTTP/2 does not allow.
func Start(addr string, useTLS bool, s *Simulator) (*Server, error) {
	if addr == "" {
		addr = DefaultAddr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		Protocols:         &protocols,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	out := &Server{Sim: s, srv: srv, cancel: cancel, served: make(chan error, 1)}
	scheme := "http"
	if useTLS {
		cert, certPEM, pin, err := GenerateCert([]string{"127.0.0.1", "::1", "localhost"}, certValidity)
		if err != nil {
			cancel()
			_ = ln.Close()
			return nil, err
		}
		out.Pin, out.CAPEM = pin, certPEM
		out.CertPool = x509.NewCertPool()
		out.CertPool.AddCert(cert.Leaf)
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		ln = tls.NewListener(ln, srv.TLSConfig)
		scheme = "https"
	}
	out.URL = scheme + "://" + ln.Addr().String()
	go func() { out.served <- srv.Serve(ln) }()
	return out, nil
}

// Close stops the server: it stops accepting, ends in-flight requests'
// contexts (so injected latency ends at once) and waits briefly for them.
// Calling it again returns the first result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.shutdown() })
	return s.closeErr
}

func (s *Server) shutdown() error {
	s.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(fmt.Errorf("shutting down simulator: %w", err), s.srv.Close())
	}
	if serr := <-s.served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("serving simulator: %w", serr))
	}
	return err
}

// GenerateCert makes a self-signed ECDSA P-256 certificate for hosts, valid
// from now-1h to now+validFor, and returns it with its PEM and SPKI pin.
// The certificate is its own CA (IsCA), so its PEM works directly as a CA
// file for clients; hosts that parse as IPs become IP SANs, others DNS SANs.
func GenerateCert(hosts []string, validFor time.Duration) (cert tls.Certificate, certPEM []byte, pin string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, "", fmt.Errorf("generating certificate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, nil, "", fmt.Errorf("generating certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "intelgate SocialEye simulator", Organization: []string{"intelgate"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validFor),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, "", fmt.Errorf("creating certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, "", fmt.Errorf("parsing generated certificate: %w", err)
	}
	cert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return cert, certPEM, upstream.Pin(leaf), nil
}
