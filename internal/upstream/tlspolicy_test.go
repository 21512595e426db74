package upstream

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/intelgate/intelgate/internal/upstream/upstreamtest"
	"github.com/stretchr/testify/require"
)

func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	empty := write("empty.pem", "")
	garbage := write("garbage.pem", "not a certificate\n")
	keyPEM := write("key.pem", "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n")
	badCert := write("bad.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	good := Pin(upstreamtest.NewCA(t, "x").Cert)

	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"TLS 1.0", Options{MinVersion: tls.VersionTLS10}, "TLS 1.0 is below the 1.2 floor"},
		{"TLS 1.1", Options{MinVersion: tls.VersionTLS11}, "TLS 1.1 is below the 1.2 floor"},
		{"SSL 3", Options{MinVersion: 0x0300}, "below the 1.2 floor"},
		{"unknown version", Options{MinVersion: 0x0305}, "not a known version"},
		{"missing CA file", Options{CAFile: filepath.Join(dir, "nope.pem")}, "reading CA file"},
		{"empty CA file", Options{CAFile: empty}, "no PEM certificates found"},
		{"garbage CA file", Options{CAFile: garbage}, "no PEM certificates found"},
		{"private key in CA file", Options{CAFile: keyPEM}, `PEM block 1 is "PRIVATE KEY", want CERTIFICATE`},
		{"unparseable certificate", Options{CAFile: badCert}, "PEM block 1"},
		{"pin without prefix", Options{Pins: []string{"abc"}}, `pins[0]: pin "abc" must start with "sha256/"`},
		{"pin with other hash", Options{Pins: []string{good, "sha1/AAAA"}}, "pins[1]"},
		{"pin not base64", Options{Pins: []string{"sha256/!!!"}}, "not valid standard base64"},
		{"pin url-safe base64", Options{Pins: []string{"sha256/" + base64.URLEncoding.EncodeToString(make([]byte, 31)) + "_-"}}, "not valid standard base64"},
		{"pin too short", Options{Pins: []string{"sha256/" + base64.StdEncoding.EncodeToString(make([]byte, 20))}}, "decodes to 20 bytes, want 32"},
		{"negative timeout", Options{Timeout: -1}, "Timeout must not be negative"},
		{"negative size cap", Options{MaxResponseBytes: -1}, "MaxResponseBytes must not be negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tc.opts)
			require.ErrorContains(t, err, tc.wantErr)
			require.NotContains(t, err.Error(), "c2VjcmV0", "must not echo a pasted key")
		})
	}
}

func TestTLSConfigPolicy(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	cfg, err := TLSConfig(Options{CAFile: p.caFile, Pins: []string{Pin(p.inter.Cert)}})
	require.NoError(t, err)
	require.False(t, cfg.InsecureSkipVerify)
	require.Equal(t, uint16(tls.VersionTLS12), cfg.MinVersion, "0 defaults to 1.2")
	require.NotNil(t, cfg.VerifyConnection)
	require.Equal(t, []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256}, cfg.CurvePreferences)
	for _, id := range cfg.CipherSuites {
		s := tls.CipherSuiteName(id)
		require.Regexp(t, `^TLS_ECDHE_(ECDSA|RSA)_WITH_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256)$`, s)
	}
	require.Len(t, cfg.CipherSuites, 6)

	_, err = p.leaf.Leaf.Verify(x509.VerifyOptions{Roots: cfg.RootCAs, Intermediates: pool(p.inter.Cert)})
	require.NoError(t, err, "CA file roots are trusted")

	cfg13, err := TLSConfig(Options{MinVersion: tls.VersionTLS13})
	require.NoError(t, err)
	require.Equal(t, uint16(tls.VersionTLS13), cfg13.MinVersion)
	require.Nil(t, cfg13.VerifyConnection, "no pins, no pin check")
}

func pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

func TestPin(t *testing.T) {
	t.Parallel()
	cert := upstreamtest.NewCA(t, "pin").Cert
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	want := "sha256/" + base64.StdEncoding.EncodeToString(sum[:])
	require.Equal(t, want, Pin(cert))
	digest, err := ParsePin(want)
	require.NoError(t, err)
	require.Equal(t, sum, digest)
}
