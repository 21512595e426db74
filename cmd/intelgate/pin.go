package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/intelgate/intelgate/internal/upstream"
)

// pinOptions are the flags of `intelgate pin`.
type pinOptions struct {
	caFile     string
	serverName string
	timeout    time.Duration
}

func newPinCmd() *cobra.Command {
	var o pinOptions
	cmd := &cobra.Command{
		Use:   "pin HOST:PORT",
		Short: "Print the SPKI SHA-256 pins of a server's verified certificate chain",
		Long: `Connect to HOST:PORT under the gateway's outbound TLS policy (TLS 1.2 or later,
full chain and hostname verification against the system roots plus --ca-file)
and print the pin of every certificate in the verified chain, with a
ready-to-paste "pins:" line for a provider's tls settings.

Verification is never skipped: a pin printed here is a pin of a chain you
would trust anyway. If verification fails, fix the trust (--ca-file) or the
name (--server-name) rather than pinning an unverified server.`,
		Example: `  intelgate pin api.socialeye.net:443
  intelgate pin 127.0.0.1:8443 --ca-file sim-ca.pem --server-name localhost`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPin(cmd.Context(), cmd.OutOrStdout(), args[0], o)
		},
	}
	cmd.Flags().StringVar(&o.caFile, "ca-file", "", "PEM file of extra trusted CA certificates (e.g. a private CA)")
	cmd.Flags().StringVar(&o.serverName, "server-name", "", "name to send as SNI and verify the certificate for (default: HOST)")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 10*time.Second, "connect and handshake timeout")
	return cmd
}

func runPin(ctx context.Context, w io.Writer, addr string, o pinOptions) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return fmt.Errorf("want HOST:PORT, got %q", addr)
	}
	cfg, err := upstream.TLSConfig(upstream.Options{CAFile: o.caFile})
	if err != nil {
		return fmt.Errorf("building TLS policy: %w", err)
	}
	cfg.ServerName = o.serverName
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: o.timeout}, Config: cfg}
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return pinDialError(addr, cfg.ServerName, err)
	}
	defer conn.Close()
	cs := conn.(*tls.Conn).ConnectionState()
	printPins(w, addr, cfg.ServerName, cs)
	return nil
}

// pinDialError explains a failed connection and suggests the flag that
// usually fixes it.
func pinDialError(addr, name string, err error) error {
	var (
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
	)
	switch {
	case errors.As(err, &unknownCA):
		return fmt.Errorf("TLS verification of %s failed: %w\n"+
			"If the server uses a private CA, pass that CA's certificate with --ca-file FILE.", addr, err)
	case errors.As(err, &hostErr):
		return fmt.Errorf("TLS verification of %s failed: %w\n"+
			"The certificate is not valid for %q; if the API is reached under another name, pass it with --server-name NAME.",
			addr, err, name)
	}
	var verifyErr *tls.CertificateVerificationError
	if errors.As(err, &verifyErr) {
		return fmt.Errorf("TLS verification of %s failed: %w", addr, err)
	}
	return fmt.Errorf("connecting to %s: %w", addr, err)
}

func printPins(w io.Writer, addr, name string, cs tls.ConnectionState) {
	fmt.Fprintf(w, "# %s (%s), %s, verified chain leaf → root:\n", addr, name, tls.VersionName(cs.Version))
	seen := map[string]bool{}
	for i, chain := range cs.VerifiedChains {
		for j, cert := range chain {
			pin := upstream.Pin(cert)
			if seen[pin] {
				continue
			}
			seen[pin] = true
			role := chainRole(j, len(chain))
			if i > 0 {
				role += ", alternate chain"
			}
			fmt.Fprintf(w, "%s  %s (%s)\n", pin, subjectName(cert), role)
		}
	}
	if len(cs.VerifiedChains) == 0 {
		return
	}
	comment, pins := recommendPins(cs.VerifiedChains[0])
	fmt.Fprintf(w, "\n# %s\npins: [%s]\n", comment, quoteAll(pins))
}

func chainRole(i, n int) string {
	switch {
	case i == 0:
		return "leaf"
	case i == n-1:
		return "root"
	default:
		return "intermediate"
	}
}

// recommendPins picks a primary pin and a backup from the chain. Any one
// pin matching suffices, so the pair lasts as long as the longer-lived of
// the two keys, and a rotation of the primary does not cause an outage.
func recommendPins(chain []*x509.Certificate) (string, []string) {
	switch len(chain) {
	case 1:
		return "only one certificate in the chain: add a backup pin for a spare key (see docs/security.md)",
			[]string{upstream.Pin(chain[0])}
	case 2:
		return "the leaf key, with its issuing CA as backup for when the leaf key changes",
			[]string{upstream.Pin(chain[0]), upstream.Pin(chain[1])}
	default:
		return "the issuing intermediate (survives leaf renewals), with the CA above it as backup for when the intermediate changes",
			[]string{upstream.Pin(chain[1]), upstream.Pin(chain[2])}
	}
}

func subjectName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return "CN=" + c.Subject.CommonName
	}
	if s := c.Subject.String(); s != "" {
		return s
	}
	if len(c.DNSNames) > 0 {
		return "DNS=" + c.DNSNames[0]
	}
	return "(no subject)"
}

func quoteAll(pins []string) string {
	quoted := make([]string, len(pins))
	for i, p := range pins {
		quoted[i] = `"` + p + `"`
	}
	return strings.Join(quoted, ", ")
}
