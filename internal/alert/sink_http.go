package alert

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"
)

// poster is the HTTP client of the webhook and Slack sinks: TLS 1.2 or
// later against the system roots (or RootCAs), no redirects (a redirect
// could carry the payload anywhere, or to plaintext), bounded response
// reads, and errors that never quote the URL — for Slack the URL is the
// credential.
type poster struct {
	client *http.Client
}

func newPoster(roots *x509.CertPool) *poster {
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots},
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	return &poster{client: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// checkURL refuses anything but https://, or http:// to a loopback host
// when allowHTTP, and URLs with credentials in them. The error never
// holds the URL.
func checkURL(raw string, allowHTTP bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "":
		return nil, errors.New("the URL is not an absolute http(s) URL")
	case u.User != nil:
		return nil, errors.New("the URL must not carry credentials")
	case u.Scheme == "https":
		return u, nil
	case u.Scheme == "http" && allowHTTP && isLoopbackHost(u.Hostname()):
		return u, nil
	}
	return nil, errors.New("the URL must be https:// (http:// only to a loopback IP address such as 127.0.0.1 or [::1], with allow_http)")
}

// isLoopbackHost reports whether h is a literal loopback IP address
// (127.0.0.0/8, ::1). A name is never trusted, "localhost" included: what
// a name resolves to is up to /etc/hosts and the resolver, so a plaintext
// alert meant for this host could leave it. internal/config's
// validation applies the same rule, so a file it accepts the sink does too.
func isLoopbackHost(h string) bool {
	a, err := netip.ParseAddr(h)
	return err == nil && a.Zone() == "" && a.Unmap().IsLoopback()
}

// post sends body to u with headers; a 2xx is success, a 4xx other than
// 408 and 429 is permanent, anything else is retried.
func (p *poster) post(ctx context.Context, u *url.URL, body []byte, header http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return Permanent(errors.New("building the request failed"))
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "intelgate-alerts")
	resp, err := p.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the URL
		}
		return fmt.Errorf("posting to the receiver: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return nil
	case s >= 300 && s < 400:
		return Permanent(fmt.Errorf("the receiver answered %d (a redirect; not followed)", s))
	case s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s >= 500:
		return fmt.Errorf("the receiver answered %d", s)
	default:
		return Permanent(fmt.Errorf("the receiver answered %d", s))
	}
}

// Close drops idle connections (Run calls it when it returns).
func (p *poster) Close() { p.client.CloseIdleConnections() }
