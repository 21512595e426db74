package upstream

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/intelgate/intelgate/internal/regfile"
	"github.com/intelgate/intelgate/internal/tlspolicy"
)

// MaxCAFileSize bounds a tls.ca_file: a full public CA bundle is about
// 200 KiB; anything far bigger is the wrong file.
const MaxCAFileSize = 4 << 20

// pinPrefix is the HPKP (RFC 7469) pin syntax, the one `openssl … | base64`
// recipes and other tools already produce.
const pinPrefix = "sha256/"

// curves: the post-quantum hybrid first (TLS 1.3 only; it still contains
// X25519, so it is never weaker), then X25519 and P-256.
var curves = []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256}

// Pin returns the HPKP-style pin of cert: "sha256/" followed by the standard
// base64 of the SHA-256 of its SubjectPublicKeyInfo. Pinning the key rather
// than the certificate lets a renewal that keeps the key keep the pin.
func Pin(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return pinPrefix + base64.StdEncoding.EncodeToString(sum[:])
}

// ParsePin checks the syntax of a "sha256/<base64>" pin and returns the
// digest it names.
func ParsePin(pin string) ([sha256.Size]byte, error) {
	var digest [sha256.Size]byte
	b64, ok := strings.CutPrefix(pin, pinPrefix)
	if !ok {
		return digest, fmt.Errorf("pin %q must start with %q", pin, pinPrefix)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil {
		return digest, fmt.Errorf("pin %q is not valid standard base64: %w", pin, err)
	}
	if len(raw) != sha256.Size {
		return digest, fmt.Errorf("pin %q decodes to %d bytes, want %d (a SHA-256 digest)", pin, len(raw), sha256.Size)
	}
	copy(digest[:], raw)
	return digest, nil
}

// TLSConfig builds the outbound TLS policy from o's MinVersion, CAFile and
// Pins. It is exported so that `intelgate pin` inspects servers under the
// very policy the gateway enforces.
func TLSConfig(o Options) (*tls.Config, error) {
	minVersion, err := checkMinVersion(o.MinVersion)
	if err != nil {
		return nil, err
	}
	roots, err := RootPool(o.CAFile)
	if err != nil {
		return nil, err
	}
	pins := make(map[[sha256.Size]byte]bool, len(o.Pins))
	for i, p := range o.Pins {
		digest, err := ParsePin(p)
		if err != nil {
			return nil, fmt.Errorf("pins[%d]: %w", i, err)
		}
		pins[digest] = true
	}
	cfg := &tls.Config{
		MinVersion:       minVersion,
		CipherSuites:     tlspolicy.CipherSuites(),
		CurvePreferences: curves,
		RootCAs:          roots,
		// Renegotiation lets a server swap certificates mid-connection
		// after our checks ran; no API we call needs it.
		Renegotiation: tls.RenegotiateNever,
	}
	if len(pins) > 0 {
		cfg.VerifyConnection = verifyPins(pins)
	}
	return cfg, nil
}

func checkMinVersion(v uint16) (uint16, error) {
	switch v {
	case 0:
		return tls.VersionTLS12, nil
	case tls.VersionTLS12, tls.VersionTLS13:
		return v, nil
	}
	if v < tls.VersionTLS12 {
		return 0, fmt.Errorf("TLS min version %s is below the 1.2 floor", tls.VersionName(v))
	}
	return 0, fmt.Errorf("TLS min version %#04x is not a known version (want 1.2 or 1.3)", v)
}

// RootPool is the system trust store plus, when caFile is set, every
// certificate in that PEM file, which must be a regular file (it is read
// without blocking, at most MaxCAFileSize). A file that cannot be read, holds a block
// that is not a certificate (a private key pasted by mistake, say) or holds
// no certificate at all is an error: a silently empty addition would turn a
// private-CA deployment into "unknown authority" failures at request time.
func RootPool(caFile string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		// No system store (rare platforms): start empty, which only
		// trusts less. The CA file may still fill it.
		pool = x509.NewCertPool()
	}
	if caFile == "" {
		return pool, nil
	}
	data, _, err := regfile.Read(caFile, MaxCAFileSize)
	if err != nil {
		return nil, fmt.Errorf("reading CA file: %w", err)
	}
	certs, err := parsePEMCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("CA file %s: %w", caFile, err)
	}
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

func parsePEMCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			// Name the type only: the block may be a private key.
			return nil, fmt.Errorf("PEM block %d is %q, want CERTIFICATE", n, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificates found")
	}
	return certs, nil
}

// errPinMismatch is returned from VerifyConnection; classify maps it to its
// own detail so operators can tell a pin problem from a chain problem.
var errPinMismatch = errors.New("certificate public key does not match any configured pin")

// verifyPins runs after crypto/tls has verified the chain and hostname
// (VerifyConnection is called even on resumed sessions, and never replaces
// normal verification unless InsecureSkipVerify is set, which we never do).
// Any certificate of any verified chain matching any pin suffices, so a
// backup pin keeps working when the primary key rotates.
func verifyPins(pins map[[sha256.Size]byte]bool) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		for _, chain := range cs.VerifiedChains {
			for _, cert := range chain {
				if pins[sha256.Sum256(cert.RawSubjectPublicKeyInfo)] {
					return nil
				}
			}
		}
		return errPinMismatch
	}
}
