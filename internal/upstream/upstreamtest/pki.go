// Package upstreamtest builds throwaway certificate authorities and server
// certificates for tests that need real TLS on loopback: expired, wrong-host
// and self-signed certificates, intermediates for pinning, and CA files.
package upstreamtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority: a root from NewCA or an intermediate from
// CA.Intermediate.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// chain is this CA's certificate followed by its issuers, excluding
	// the root: what a server sends after its leaf.
	chain [][]byte
}

// NewCA returns a self-signed root CA valid from an hour ago for a day.
func NewCA(tb testing.TB, name string) *CA {
	tb.Helper()
	key := newKey(tb)
	tmpl := caTemplate(name)
	cert := sign(tb, tmpl, tmpl, key.Public(), key)
	return &CA{Cert: cert, Key: key}
}

// Intermediate returns a CA issued by ca.
func (ca *CA) Intermediate(tb testing.TB, name string) *CA {
	tb.Helper()
	key := newKey(tb)
	cert := sign(tb, caTemplate(name), ca.Cert, key.Public(), ca.Key)
	return &CA{Cert: cert, Key: key, chain: append([][]byte{cert.Raw}, ca.chain...)}
}

// LeafOptions describe a server certificate.
type LeafOptions struct {
	// Hosts are DNS names or IP addresses; default 127.0.0.1.
	Hosts []string
	// NotBefore and NotAfter default to an hour ago and a day ahead.
	NotBefore, NotAfter time.Time
}

// Leaf issues a server certificate and returns it with its chain (leaf,
// intermediates; never the root), ready for tls.Config.Certificates.
func (ca *CA) Leaf(tb testing.TB, o LeafOptions) tls.Certificate {
	tb.Helper()
	key := newKey(tb)
	cert := sign(tb, leafTemplate(o), ca.Cert, key.Public(), ca.Key)
	return tls.Certificate{
		Certificate: append([][]byte{cert.Raw}, ca.chain...),
		PrivateKey:  key,
		Leaf:        cert,
	}
}

// SelfSigned returns a server certificate that is its own issuer, trusted
// by nobody.
func SelfSigned(tb testing.TB, o LeafOptions) tls.Certificate {
	tb.Helper()
	key := newKey(tb)
	tmpl := leafTemplate(o)
	cert := sign(tb, tmpl, tmpl, key.Public(), key)
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
}

// PEM is ca's certificate in PEM form.
func (ca *CA) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// WriteFile writes ca's certificate as a PEM CA file in a test temp
// directory and returns its path.
func (ca *CA) WriteFile(tb testing.TB) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "ca.pem")
	if err := os.WriteFile(path, ca.PEM(), 0o600); err != nil {
		tb.Fatalf("writing CA file: %v", err)
	}
	return path
}

func caTemplate(name string) *x509.Certificate {
	now := time.Now()
	return &x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
}

func leafTemplate(o LeafOptions) *x509.Certificate {
	now := time.Now()
	if o.NotBefore.IsZero() {
		o.NotBefore = now.Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = now.Add(24 * time.Hour)
	}
	if len(o.Hosts) == 0 {
		o.Hosts = []string{"127.0.0.1"}
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: o.Hosts[0]},
		NotBefore:             o.NotBefore,
		NotAfter:              o.NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range o.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return tmpl
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("generating key: %v", err)
	}
	return key
}

func sign(tb testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	tb.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		tb.Fatalf("generating serial: %v", err)
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		tb.Fatalf("creating certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("parsing certificate: %v", err)
	}
	return cert
}
