package gateway

import (
	"crypto/tls"
	"fmt"

	"github.com/intelgate/intelgate/internal/regfile"
)

// MaxTLSFileSize bounds server.tls.cert_file and key_file: a certificate
// chain and its key are a few KiB.
const MaxTLSFileSize = 1 << 20

// KeyPairError is a LoadKeyPair failure and the setting it is about, so
// configuration checks report it against the right field.
type KeyPairError struct {
	Field string // server.tls.cert_file or server.tls.key_file
	Err   error
}

func (e *KeyPairError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *KeyPairError) Unwrap() error { return e.Err }

// LoadKeyPair is tls.LoadX509KeyPair reading both files through regfile:
// each must be a regular file, read without blocking and with a size cap,
// so a FIFO or device named as the certificate fails at once instead of
// hanging start-up. Errors are *KeyPairError and hold no key material.
func LoadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, _, err := regfile.Read(certFile, MaxTLSFileSize)
	if err != nil {
		return tls.Certificate{}, &KeyPairError{Field: "server.tls.cert_file", Err: fmt.Errorf("reading the certificate: %w", err)}
	}
	keyPEM, _, err := regfile.Read(keyFile, MaxTLSFileSize)
	if err != nil {
		return tls.Certificate{}, &KeyPairError{Field: "server.tls.key_file", Err: fmt.Errorf("reading the key: %w", err)}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, &KeyPairError{Field: "server.tls.cert_file", Err: fmt.Errorf("loading the certificate and key: %w", err)}
	}
	return cert, nil
}
