package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults for the options. They favour a calling application that should
// degrade quickly rather than hang: three attempts, no single wait above 30s.
const (
	DefaultMaxAttempts = 3
	DefaultMaxWait     = 30 * time.Second
	DefaultBackoffBase = 250 * time.Millisecond
	DefaultBackoffMax  = 10 * time.Second
	DefaultUserAgent   = "intelgate-go-client/1"
)

// maxSuccessBytes bounds a 2xx body the client will buffer. The gateway caps
// each upstream body (5 MiB by default); a lookup fans out to several
// providers, so this leaves generous room while still bounding memory.
const maxSuccessBytes = 64 << 20

// maxProblemBytes bounds how much of an error body is read: problem details
// are small, and anything larger is not one.
const maxProblemBytes = 64 << 10

// Errors New wraps, so callers (like the CLI) can tell which input to fix.
var (
	ErrInvalidBaseURL = errors.New("invalid base URL")
	ErrInvalidToken   = errors.New("invalid token")
)

// Client calls one intelgate gateway with one token. It is safe for
// concurrent use.
type Client struct {
	base        *url.URL
	token       string
	hc          *http.Client
	userAgent   string
	maxAttempts int
	maxWait     time.Duration
	backoffBase time.Duration
	backoffMax  time.Duration

	// Seams for tests in this package; production uses the real clock,
	// timers and math/rand/v2.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
	rand  func() float64 // uniform in [0, 1)
}

// settings collects options before New validates them as a whole, so every
// invalid option is reported by name.
type settings struct {
	hc           *http.Client
	userAgent    string
	maxAttempts  int
	maxWait      time.Duration
	backoffBase  time.Duration
	backoffMax   time.Duration
	insecureHTTP bool
}

// Option configures a Client in New.
type Option func(*settings)

// WithHTTPClient makes the Client send requests through hc (for proxies,
// custom CAs or client certificates). The Client uses a shallow copy whose
// redirect policy additionally refuses redirects to another origin, so the
// token is only ever sent to the configured gateway; hc itself is not
// modified.
func WithHTTPClient(hc *http.Client) Option { return func(s *settings) { s.hc = hc } }

// WithMaxAttempts sets how many times one call may be sent, including the
// first (default 3). 1 disables retries.
func WithMaxAttempts(n int) Option { return func(s *settings) { s.maxAttempts = n } }

// WithMaxWait caps any single wait between attempts, whether it comes from
// Retry-After or from backoff (default 30s). A gateway asking for longer is
// obeyed only up to this cap.
func WithMaxWait(d time.Duration) Option { return func(s *settings) { s.maxWait = d } }

// WithUserAgent sets the User-Agent header, e.g. to name the calling
// application in the gateway's logs.
func WithUserAgent(ua string) Option { return func(s *settings) { s.userAgent = ua } }

// WithBackoff sets the exponential backoff used when the gateway gives no
// Retry-After: before retry n the client waits a uniformly random duration
// in [0, min(max, base·2^(n-1))) ("full jitter"), so many clients recovering
// from one outage do not retry in lockstep. Defaults: 250ms and 10s.
func WithBackoff(base, maxBackoff time.Duration) Option {
	return func(s *settings) { s.backoffBase, s.backoffMax = base, maxBackoff }
}

// WithInsecureHTTP allows a plain-http base URL to a non-loopback host. The
// token then crosses the network in clear text; use it only on a network
// you trust completely (e.g. a sidecar on a private pod network). Without
// it, New accepts http:// only for localhost and loopback addresses.
func WithInsecureHTTP() Option { return func(s *settings) { s.insecureHTTP = true } }

// New returns a Client for the gateway at baseURL authenticating with token.
// baseURL must be an absolute https URL (http is accepted for loopback hosts,
// or anywhere with WithInsecureHTTP); it may carry a path prefix when the
// gateway is mounted below one. Errors never contain the token.
func New(baseURL, token string, opts ...Option) (*Client, error) {
	s := settings{
		userAgent:   DefaultUserAgent,
		maxAttempts: DefaultMaxAttempts,
		maxWait:     DefaultMaxWait,
		backoffBase: DefaultBackoffBase,
		backoffMax:  DefaultBackoffMax,
	}
	for _, o := range opts {
		o(&s)
	}
	base, err := parseBaseURL(baseURL, s.insecureHTTP)
	if err != nil {
		return nil, err
	}
	if err := validToken(token); err != nil {
		return nil, err
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	hc := s.hc
	if hc == nil {
		hc = defaultHTTPClient()
	}
	return &Client{
		base:        base,
		token:       token,
		hc:          guardRedirects(hc),
		userAgent:   s.userAgent,
		maxAttempts: s.maxAttempts,
		maxWait:     s.maxWait,
		backoffBase: s.backoffBase,
		backoffMax:  s.backoffMax,
		now:         time.Now,
		sleep:       sleepContext,
		rand:        rand.Float64,
	}, nil
}

func (s *settings) validate() error {
	var errs []error
	if s.maxAttempts < 1 {
		errs = append(errs, fmt.Errorf("WithMaxAttempts must be at least 1, got %d", s.maxAttempts))
	}
	if s.maxWait <= 0 {
		errs = append(errs, fmt.Errorf("WithMaxWait must be positive, got %s", s.maxWait))
	}
	if s.backoffBase <= 0 || s.backoffMax < s.backoffBase {
		errs = append(errs, fmt.Errorf("WithBackoff needs 0 < base <= max, got base %s max %s", s.backoffBase, s.backoffMax))
	}
	if strings.ContainsFunc(s.userAgent, isCTL) {
		errs = append(errs, errors.New("WithUserAgent must not contain control characters"))
	}
	return errors.Join(errs...)
}

// parseBaseURL checks the gateway address. url.Parse errors repeat the input,
// which may hold credentials, so only the underlying cause is kept.
func parseBaseURL(raw string, insecureHTTP bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidBaseURL, err)
	}
	switch {
	case u.User != nil:
		return nil, fmt.Errorf("%w: it must not contain credentials; pass the token to New instead", ErrInvalidBaseURL)
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("%w %q: scheme must be https or http", ErrInvalidBaseURL, u.Redacted())
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("%w %q: it must be absolute, with a host", ErrInvalidBaseURL, u.Redacted())
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("%w %q: it must not have a query or fragment", ErrInvalidBaseURL, u.Redacted())
	case u.Scheme == "http" && !insecureHTTP && !isLoopback(u.Hostname()):
		return nil, fmt.Errorf("%w %q: plain http is only allowed to a loopback host (use https, or WithInsecureHTTP to send the token in clear text)", ErrInvalidBaseURL, u.Redacted())
	}
	return u, nil
}

// isLoopback reports whether host is a loopback IP literal or the name
// localhost, which RFC 6761 reserves for loopback.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validToken rejects tokens that cannot be a valid header value. The
// messages never echo the token.
func validToken(token string) error {
	switch {
	case token == "":
		return fmt.Errorf("%w: it is empty", ErrInvalidToken)
	case strings.ContainsFunc(token, func(r rune) bool { return isCTL(r) || r == ' ' }):
		return fmt.Errorf("%w: it contains spaces or control characters", ErrInvalidToken)
	}
	return nil
}

func isCTL(r rune) bool { return r < 0x20 || r == 0x7f }

// sleepContext waits d or until ctx ends, whichever is first.
func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
