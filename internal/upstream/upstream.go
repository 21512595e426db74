// Package upstream is the outbound transport to provider APIs: a strict TLS
// policy (≥1.2, full verification, SPKI pins on top), timeouts, a response
// size cap and response validation. Nothing an upstream sends is trusted.
package upstream

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/intelgate/intelgate/internal/buildinfo"
)

// Kind classifies an upstream failure; the gateway maps it to an HTTP status.
type Kind string

const (
	KindTLS         Kind = "tls"          // handshake/verification/pin failure → 502
	KindConnect     Kind = "connect"      // dial refused, reset, DNS → 502
	KindTimeout     Kind = "timeout"      // any timeout → 504
	KindTooLarge    Kind = "too_large"    // body over the cap → 502
	KindContentType Kind = "content_type" // not application/json → 502
	KindMalformed   Kind = "malformed"    // not JSON, or not a JSON object → 502
	KindSchema      Kind = "schema"       // JSON Schema mismatch → 502
	KindAuth        Kind = "auth"         // upstream 401/403 (security event) → 502
	KindNotFound    Kind = "not_found"    // upstream says no data (404 by default)
	KindRateLimited Kind = "rate_limited" // upstream 429 → 429 with Retry-After
	KindUpstream    Kind = "upstream"     // 5xx → 502
	KindRejected    Kind = "rejected"     // other 4xx, redirects, plaintext → 502
	// KindCredentialLeak: the answer holds one of the provider's own keys
	// in some spelling (a reflecting upstream or proxy) → 502. Set by the
	// caller that knows the keys (internal/pipeline), never cached.
	KindCredentialLeak Kind = "credential_leak"
)

// Error is an upstream failure. Detail is safe to show a client: it never
// holds a key, a URL query string or upstream body bytes.
type Error struct {
	Kind   Kind
	Status int // upstream HTTP status, 0 when none
	// RetryAfter is how long the upstream asked us to wait: on 429/503 from
	// Retry-After or its rate-limit headers (retryafter.FromHeaders); on
	// not_found, the proactive hint of Response.ExhaustedFor. 0 when absent.
	// Uncapped: callers apply retry.max_wait.
	RetryAfter time.Duration
	// NotSent is true when the call failed before the request was written
	// (refused connection, DNS, TLS handshake, caller already gone): the
	// upstream never saw it, so it spent no quota.
	NotSent bool
	Detail  string
	Err     error // underlying cause (also secret-free)
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("upstream %s: %s: %v", e.Kind, e.Detail, e.Err)
	}
	return fmt.Sprintf("upstream %s: %s", e.Kind, e.Detail)
}

func (e *Error) Unwrap() error { return e.Err }

// Defaults for zero Options fields.
const (
	DefaultDialTimeout         = 10 * time.Second
	DefaultTLSHandshakeTimeout = 10 * time.Second
	DefaultTimeout             = 30 * time.Second
	DefaultMaxResponseBytes    = 5 << 20
	DefaultMaxConnections      = 64
)

// sessionCacheSize bounds the TLS sessions kept for resumption. A Client
// talks to one upstream host (one cache entry: crypto/tls keys sessions by
// server name), or a few behind a proxy.
const sessionCacheSize = 8

// Options configure a Client.
type Options struct {
	MinVersion            uint16        // tls.VersionTLS12 (default) or VersionTLS13; lower is an error
	CAFile                string        // optional extra roots (PEM); system roots otherwise
	Pins                  []string      // "sha256/<base64>"; any one must match a chain cert's SPKI
	DialTimeout           time.Duration // default 10s
	TLSHandshakeTimeout   time.Duration // default 10s
	ResponseHeaderTimeout time.Duration // 0 (default): covered by Timeout
	Timeout               time.Duration // whole call; default 30s
	MaxResponseBytes      int64         // default 5 MiB
	// MaxConnections bounds the connections open to the upstream host at
	// once; as many are kept idle for reuse (default 64). A call beyond
	// the bound waits for a connection, within its timeout.
	MaxConnections int

	// Proxy chooses an HTTP proxy per request; nil reads HTTPS_PROXY and
	// NO_PROXY from the environment. Through an http:// proxy the TLS
	// session is tunnelled (CONNECT) end to end, so verification and pins
	// still apply to the upstream's own certificate.
	Proxy func(*http.Request) (*url.URL, error)
}

// Validation says how to judge a response.
type Validation struct {
	NotFoundStatus []int              // default [404]
	Schema         *jsonschema.Schema // optional
	// NotFoundWhen lists 2xx answers that mean "no data" (abuse.ch's
	// {"query_status":"no_results"}): checked once the body is valid.
	NotFoundWhen []BodyMatch
	// OKStatus lists other 2xx statuses the vendor documents as a
	// success with a full JSON body (GreyNoise's 206), beside 200, 201
	// and 203.
	OKStatus []int
	// AllowArray accepts a JSON array as the answer, beside an object
	// (Have I Been Pwned answers a list).
	AllowArray bool
	// RateLimit names the vendor's own rate-limit headers; nil reads the
	// common spellings (retryafter.Exhausted).
	RateLimit *RateLimitHeaders
	// Secret is the credential the request carries (the key). An error
	// detail is withheld only if it holds it (or another credential-bearing
	// header); without it, any query value counts, since the transport
	// cannot tell a key parameter from an indicator.
	Secret string
}

// BodyMatch matches an answer whose value at Pointer (RFC 6901) is one of
// Equals, a string compared as itself and anything else as its JSON text.
type BodyMatch struct {
	Pointer string
	Equals  []string
}

// RateLimitHeaders names a vendor's rate-limit headers (see
// retryafter.ExhaustedNamed).
type RateLimitHeaders struct {
	Remaining, Reset, ResetFormat string
}

// Response is a validated successful response: Body is a JSON object.
type Response struct {
	Status int
	Header http.Header
	Body   json.RawMessage
	// ExhaustedFor is a proactive pause hint: the rate-limit headers of this
	// successful answer say no units remain, for this long
	// (retryafter.Exhausted). Pausing the key now spares the upstream a
	// request it would refuse with 429. 0 when units remain or no header
	// says. Uncapped: callers apply retry.max_wait.
	ExhaustedFor time.Duration
}

// Client performs upstream calls. It is safe for concurrent use; build one
// per provider so each keeps its own TLS policy and connection pool.
type Client struct {
	transport *http.Transport
	timeout   time.Duration
	maxBytes  int64
	userAgent string
	// minVersionName ("1.2") is for protocol-version failure details.
	minVersionName string
	now            func() time.Time // for Retry-After dates; tests inject a clock
}

// New builds a Client; bad options (TLS below 1.2, unreadable CA, bad pin
// syntax, negative limits) are errors.
func New(o Options) (*Client, error) {
	tlsConfig, err := TLSConfig(o)
	if err != nil {
		return nil, fmt.Errorf("upstream TLS policy: %w", err)
	}
	for name, d := range map[string]time.Duration{
		"DialTimeout": o.DialTimeout, "TLSHandshakeTimeout": o.TLSHandshakeTimeout,
		"ResponseHeaderTimeout": o.ResponseHeaderTimeout, "Timeout": o.Timeout,
	} {
		if d < 0 {
			return nil, fmt.Errorf("upstream %s must not be negative, got %s", name, d)
		}
	}
	if o.MaxConnections < 0 {
		return nil, fmt.Errorf("upstream MaxConnections must not be negative, got %d", o.MaxConnections)
	}
	if o.MaxResponseBytes < 0 {
		return nil, fmt.Errorf("upstream MaxResponseBytes must not be negative, got %d", o.MaxResponseBytes)
	}
	o = withDefaults(o)
	// TLS session resumption: a connection opened when the pool runs short
	// resumes a session instead of paying a full handshake. The cache is
	// this Client's alone, so a session is only ever resumed under the
	// policy that verified it; a new policy (reload) is a new Client.
	// Resumption keeps every check: crypto/tls re-checks the cached leaf's
	// expiry and hostname, and calls VerifyConnection, our pin check, on
	// resumed connections too, with the chains verified when the session
	// was made (TestSessionResumptionStillPins).
	tlsConfig.ClientSessionCache = tls.NewLRUClientSessionCache(sessionCacheSize)
	headerTimeout := o.ResponseHeaderTimeout
	if headerTimeout >= o.Timeout {
		// The overall deadline already covers it; a second timer racing
		// the first would only blur which limit was hit.
		headerTimeout = 0
	}

	transport := &http.Transport{
		Proxy:                  o.Proxy,
		DialContext:            trackingDialer((&net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}).DialContext),
		TLSClientConfig:        tlsConfig,
		TLSHandshakeTimeout:    o.TLSHandshakeTimeout,
		ResponseHeaderTimeout:  headerTimeout,
		ExpectContinueTimeout:  time.Second,
		ForceAttemptHTTP2:      true,
		MaxConnsPerHost:        o.MaxConnections,
		MaxIdleConns:           o.MaxConnections,
		MaxIdleConnsPerHost:    o.MaxConnections,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	// Do calls the transport directly, which never follows a redirect: a
	// redirect could carry a query-string key to another host, so the 3xx
	// comes back to Do, which refuses it.
	return &Client{
		transport:      transport,
		timeout:        o.Timeout,
		maxBytes:       o.MaxResponseBytes,
		userAgent:      "intelgate/" + version(), // sent when a request has none
		minVersionName: strings.TrimPrefix(tls.VersionName(tlsConfig.MinVersion), "TLS "),
		now:            time.Now,
	}, nil
}

func withDefaults(o Options) Options {
	if o.DialTimeout == 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.TLSHandshakeTimeout == 0 {
		o.TLSHandshakeTimeout = DefaultTLSHandshakeTimeout
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxResponseBytes == 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.Proxy == nil {
		o.Proxy = http.ProxyFromEnvironment
	}
	return o
}

// version is the main module's version as the Go toolchain recorded it,
// the same one `intelgate version` prints.
func version() string { return buildinfo.Version() }

// CloseIdleConnections releases pooled connections, e.g. on config reload.
func (c *Client) CloseIdleConnections() { c.transport.CloseIdleConnections() }
