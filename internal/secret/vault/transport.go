package vault

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/intelgate/intelgate/internal/regfile"
)

// maxBody bounds every answer read from Vault. KV secrets holding API keys
// and token answers are a few KiB; a larger answer is a fault, and is not
// read into memory.
const maxBody = 1 << 20

// maxCAFile bounds the CA bundle file.
const maxCAFile = 1 << 20

// newHTTPTransport is the one connection pool of a Source. It is built
// here rather than by api.DefaultConfig, which derives its TLS settings
// (VAULT_CACERT, VAULT_SKIP_VERIFY, VAULT_TLS_SERVER_NAME, client
// certificates) and its proxy from the environment. No proxy either: the
// stdlib's HTTPS_PROXY handling is the environment too, and the config
// says where Vault is.
func newHTTPTransport(o Options) *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   o.Timeout,
		ResponseHeaderTimeout: o.Timeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
	}
}

// configureTLS applies the CA bundle (nil: system roots) to tr through the
// api's own ConfigureTLS, once: tr is shared by every client of a Source,
// and its tls.Config must not change once requests can use it.
func configureTLS(o Options, tr *http.Transport, caPEM []byte) error {
	cfg := &api.Config{HttpClient: &http.Client{Transport: tr}}
	if err := cfg.ConfigureTLS(&api.TLSConfig{CACertBytes: caPEM}); err != nil {
		return fmt.Errorf("vault: ca_file %s: %w", o.CAFile, err)
	}
	// ConfigureTLS writes into the transport's TLS config; make sure
	// nothing there turned verification off.
	if tr.TLSClientConfig.InsecureSkipVerify || tr.TLSClientConfig.MinVersion < tls.VersionTLS12 {
		return errors.New("vault: TLS verification must stay on, with TLS 1.2 or later")
	}
	return nil
}

// newConfig is the api.Config of every client of a Source: the shared
// transport, no retries (the refresher and Run retry on their own
// schedule), no redirects, the per-request timeout. bound, when not nil,
// cancels every request when it ends: the LifetimeWatcher calls Vault
// with context.Background, and Run must not wait for such a call.
func newConfig(o Options, tr *http.Transport, bound context.Context) *api.Config {
	return &api.Config{
		Address:          o.Address,
		HttpClient:       &http.Client{Transport: &transport{base: tr, bound: bound}, CheckRedirect: refuseRedirect},
		MaxRetries:       0,
		CheckRetry:       func(context.Context, *http.Response, error) (bool, error) { return false, nil },
		Timeout:          o.Timeout,
		DisableRedirects: true,
	}
}

// readCA reads the PEM bundle o.CAFile names ("" = system roots: nil).
func readCA(o Options) ([]byte, error) {
	if o.CAFile == "" {
		return nil, nil
	}
	b, _, err := regfile.Read(o.CAFile, maxCAFile)
	if err != nil {
		return nil, fmt.Errorf("vault: reading ca_file: %w", err)
	}
	return b, nil
}

// refuseRedirect stops net/http from following a redirect itself: it
// would resend X-Vault-Token, which net/http does not know to drop, to
// whatever host the Location names.
func refuseRedirect(*http.Request, []*http.Request) error { return ErrRedirect }

// transport caps every answer's body at maxBody and, when bound is set,
// ties each request to bound as well as to its own context.
type transport struct {
	base  *http.Transport
	bound context.Context
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	done := func() {}
	if t.bound != nil {
		ctx, cancel := context.WithCancel(r.Context())
		stop := context.AfterFunc(t.bound, cancel)
		done = func() { stop(); cancel() }
		r = r.WithContext(ctx)
	}
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		done()
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: maxBody, done: done}
	return resp, nil
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the pool.
func (t *transport) CloseIdleConnections() { t.base.CloseIdleConnections() }

// limitedBody fails a read past its limit instead of returning more.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
	once sync.Once
	done func()
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body of exactly the limit from a longer one.
		var one [1]byte
		for {
			n, err := b.rc.Read(one[:])
			if n > 0 {
				return 0, ErrBodyTooLarge
			}
			if err != nil {
				return 0, err // io.EOF: exactly the limit
			}
		}
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error {
	err := b.rc.Close()
	b.once.Do(b.done)
	return err
}
