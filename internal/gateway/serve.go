package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/intelgate/intelgate/internal/auth"
	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/tlspolicy"
)

// ListenerOptions are the inbound listener's safety settings.
type ListenerOptions struct {
	TLS               *config.ServerTLS
	AllowPlaintext    bool
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	ShutdownTimeout   time.Duration
	MaxHeaderBytes    int
	// MaxConnections and MaxConnectionsPerSource bound open connections
	// (see connLimiter); 0 takes the config default. TrustedProxies are
	// exempt from the per-source limit.
	MaxConnections          int
	MaxConnectionsPerSource int
	TrustedProxies          []netip.Prefix
	Log                     *slog.Logger
}

// ListenerOptionsFrom maps the server section of the config.
func ListenerOptionsFrom(s config.Server, log *slog.Logger) ListenerOptions {
	return ListenerOptions{
		TLS:               s.TLS,
		AllowPlaintext:    s.AllowPlaintext,
		ReadHeaderTimeout: s.ReadHeaderTimeout.Std(),
		ReadTimeout:       s.ReadTimeout.Std(),
		WriteTimeout:      s.WriteTimeout.Std(),
		IdleTimeout:       s.IdleTimeout.Std(),
		ShutdownTimeout:   s.ShutdownTimeout.Std(),
		MaxHeaderBytes:    int(s.MaxHeaderBytes),
		Log:               log,

		MaxConnections:          s.MaxConnections,
		MaxConnectionsPerSource: s.MaxConnectionsPerSource,
		TrustedProxies:          s.TrustedProxies,
	}
}

// ErrPlaintextNotLoopback refuses to serve tokens in clear text over a network.
var ErrPlaintextNotLoopback = errors.New("refusing plaintext HTTP on a non-loopback address: configure server.tls, or set server.allow_plaintext: true only behind a TLS-terminating proxy")

// Serve serves h on ln until ctx is cancelled, then shuts down gracefully:
// it stops accepting, lets in-flight requests finish within ShutdownTimeout,
// and returns. Plaintext is served only on a loopback listener unless
// AllowPlaintext is set.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, o ListenerOptions) error {
	return serve(ctx, ln, h, o, newConnLimiter(
		orDefaultInt(o.MaxConnections, config.DefaultMaxConnections),
		orDefaultInt(o.MaxConnectionsPerSource, config.DefaultMaxConnectionsPerSource),
		auth.NewProxies(o.TrustedProxies), o.Log))
}

// serve is Serve with its connection limiter given, so tests can watch it.
func serve(ctx context.Context, ln net.Listener, h http.Handler, o ListenerOptions, lim *connLimiter) error {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	errLog := newServerErrorLog(o.Log, time.Now)
	defer errLog.flush()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: orDefault(o.ReadHeaderTimeout, config.DefaultReadHeaderTimeout.Std()),
		ReadTimeout:       orDefault(o.ReadTimeout, config.DefaultReadTimeout.Std()),
		WriteTimeout:      orDefault(o.WriteTimeout, config.DefaultWriteTimeout.Std()),
		IdleTimeout:       orDefault(o.IdleTimeout, config.DefaultIdleTimeout.Std()),
		MaxHeaderBytes:    o.MaxHeaderBytes,
		ErrorLog:          errLog.logger(),
		ConnState:         lim.connState,
	}
	if srv.MaxHeaderBytes <= 0 {
		srv.MaxHeaderBytes = int(config.DefaultMaxHeaderBytes)
	}
	// The limit sits below TLS: a refused or evicted connection costs no
	// handshake, and the server still sees the *tls.Conn itself.
	ln = limitListener{Listener: ln, lim: lim}
	if o.TLS != nil {
		cert, err := LoadKeyPair(o.TLS.CertFile, o.TLS.KeyFile)
		if err != nil {
			return fmt.Errorf("loading server.tls certificate: %w", err)
		}
		minV := uint16(o.TLS.MinVersion)
		if minV < tlspolicy.MinVersion {
			minV = tlspolicy.MinVersion
		}
		srv.TLSConfig = &tls.Config{MinVersion: minV, Certificates: []tls.Certificate{cert},
			CipherSuites: tlspolicy.CipherSuites()}
		ln = tls.NewListener(ln, srv.TLSConfig)
	} else if !o.AllowPlaintext && !isLoopback(ln.Addr()) {
		return ErrPlaintextNotLoopback
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving http: %w", err)
	case <-ctx.Done():
	}
	grace := orDefault(o.ShutdownTimeout, config.DefaultShutdownTimeout.Std())
	o.Log.Info("shutting down: finishing in-flight requests", "timeout", grace.String())
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving http: %w", err)
	}
	return nil
}

func isLoopback(a net.Addr) bool {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return false
	}
	return ap.Addr().Unmap().IsLoopback()
}

func orDefaultInt(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
