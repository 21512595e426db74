package gateway

import (
	"crypto/tls"
	"errors"
	"fmt"
	"runtime"

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
// hanging start-up. The key file must be neither world-readable nor
// world-writable: whoever can read it can impersonate the gateway to its
// clients, whoever can write it can replace it (group access is left to
// the operator: /etc/ssl/private is often group ssl-cert). Both files are
// checked before either error is returned, so one run reports both.
// Errors are *KeyPairError (joined when both fail) and hold no key
// material.
func LoadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	var errs []error
	certPEM, _, err := regfile.Read(certFile, MaxTLSFileSize)
	if err != nil {
		errs = append(errs, &KeyPairError{Field: "server.tls.cert_file", Err: fmt.Errorf("reading the certificate: %w", err)})
	}
	keyPEM, info, err := regfile.Read(keyFile, MaxTLSFileSize)
	switch {
	case err != nil:
		errs = append(errs, &KeyPairError{Field: "server.tls.key_file", Err: fmt.Errorf("reading the key: %w", err)})
	case runtime.GOOS != "windows" && info.Mode().Perm()&0o006 != 0:
		errs = append(errs, &KeyPairError{Field: "server.tls.key_file", Err: fmt.Errorf(
			"%s has mode %04o: readable or writable by every user; chmod 600 (or 640 with a group)", keyFile, info.Mode().Perm())})
	}
	if len(errs) > 0 {
		return tls.Certificate{}, errors.Join(errs...)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, &KeyPairError{Field: "server.tls.cert_file", Err: fmt.Errorf("loading the certificate and key: %w", err)}
	}
	return cert, nil
}
