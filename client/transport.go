package client

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// defaultHTTPClient has a timeout on every phase, so a gateway that stops
// answering cannot hold a caller without a context deadline forever, and
// refuses TLS below 1.2. Timeout bounds one attempt, not the whole call with
// its retries; use a context deadline for that.
func defaultHTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 45 * time.Second,
			ExpectContinueTimeout: time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   16,
			ForceAttemptHTTP2:     true,
		},
	}
}

// errCrossOriginRedirect stops a redirect away from the gateway. Go itself
// drops Authorization only when the host name changes (and keeps it for
// subdomains and for another port on the same host); the gateway never
// redirects, so any redirect to a different scheme, host or port is refused
// outright and the token is never sent anywhere but the configured origin.
var errCrossOriginRedirect = errors.New("refusing redirect to another origin")

// guardRedirects returns a shallow copy of hc whose CheckRedirect first
// refuses cross-origin redirects, then applies hc's own policy (or Go's
// default limit of 10).
func guardRedirects(hc *http.Client) *http.Client {
	guarded := *hc
	next := hc.CheckRedirect
	guarded.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		first := via[0].URL
		if req.URL.Scheme != first.Scheme || req.URL.Host != first.Host {
			return fmt.Errorf("%w (%s://%s)", errCrossOriginRedirect, req.URL.Scheme, req.URL.Host)
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &guarded
}
