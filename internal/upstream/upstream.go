// Package upstream is the outbound transport to provider APIs: a strict TLS
// policy (≥1.2, full verification, SPKI pins on top), timeouts, a response
// size cap and response validation. Nothing an upstream sends is trusted.
package upstream

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
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
	KindRejected    Kind = "rejected"     // other 4xx → 502
)

// Error is an upstream failure. Detail is safe to show a client: it never
// holds a key, a URL query string or upstream body bytes.
type Error struct {
	Kind       Kind
	Status     int           // upstream HTTP status, 0 when none
	RetryAfter time.Duration // from Retry-After on 429/503, 0 when absent
	Detail     string
	Err        error // underlying cause (also secret-free)
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("upstream %s: %s: %v", e.Kind, e.Detail, e.Err)
	}
	return fmt.Sprintf("upstream %s: %s", e.Kind, e.Detail)
}

func (e *Error) Unwrap() error { return e.Err }

// Options configure a Client.
type Options struct {
	MinVersion            uint16   // tls.VersionTLS12 (default) or VersionTLS13; lower is an error
	CAFile                string   // optional extra roots (PEM); system roots otherwise
	Pins                  []string // "sha256/<base64>"; any one must match a chain cert's SPKI
	DialTimeout           time.Duration // default 10s
	TLSHandshakeTimeout   time.Duration // default 10s
	ResponseHeaderTimeout time.Duration // default Timeout
	Timeout               time.Duration // whole call; default 30s
	MaxResponseBytes      int64         // default 5 MiB
}

// Validation says how to judge a response.
type Validation struct {
	NotFoundStatus []int              // default [404]
	Schema         *jsonschema.Schema // optional
}

// Response is a validated successful response: Body is a JSON object.
type Response struct {
	Status int
	Header http.Header
	Body   json.RawMessage
}

// Client performs upstream calls. TODO(upstream helper).
type Client struct{}

// New builds a Client; bad options (TLS below 1.2, unreadable CA, bad pin
// syntax) are errors. TODO(upstream helper).
func New(o Options) (*Client, error) { panic("unimplemented") }

// Do sends req and returns a validated Response or an *Error.
// TODO(upstream helper).
func (c *Client) Do(ctx context.Context, req *http.Request, v Validation) (*Response, error) {
	panic("unimplemented")
}
