package app

import (
	"crypto/tls"

	"github.com/intelgate/intelgate/internal/sim"
)

func tlsConfigFor(s *sim.Server) *tls.Config {
	return &tls.Config{RootCAs: s.CertPool, MinVersion: tls.VersionTLS12}
}
