// Package provider holds the Provider interface and its implementations:
// socialeye and the declarative http provider.
//
// A provider only knows how to shape one outbound request and how to read
// the upstream's "no data" answer. Transport policy (TLS, pins, timeouts,
// size caps, JSON validation) lives in internal/upstream behind the Doer
// interface; pacing, retries and caching wrap providers from the outside.
package provider

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/upstream"
)

// Request is one lookup.
type Request struct {
	Indicator indicator.Indicator
	// UpstreamType is the client's own type parameter for pass-through
	// endpoints (/v1/resolve); "" lets the provider choose (auto).
	UpstreamType string
	// Client names the application that asked, for security-event logs
	// (a refused key names who triggered it). Never sent upstream and not
	// part of coalescing: a shared call is logged under its first caller.
	Client string
}

// Result is a provider's answer. Data is a validated JSON object, nil when
// NotFound.
type Result struct {
	Data     json.RawMessage
	NotFound bool
	// Status is the upstream's HTTP status (for outcomes, audit, metrics).
	Status int
	// PauseFor is the upstream's proactive "slow down" hint: its rate-limit
	// headers said no units remain on the key used, for this long
	// (upstream.Response.ExhaustedFor). The governor pauses that key now,
	// so the upstream never has to answer 429. 0 means no hint. Uncapped.
	PauseFor time.Duration
}

// Provider answers lookups. Errors are *upstream.Error for upstream failures.
type Provider interface {
	Name() string
	Supports(t indicator.Type) bool
	Lookup(ctx context.Context, req Request, key secret.Value) (Result, error)
}

// Doer sends one validated upstream call. *upstream.Client satisfies it; tests
// substitute a fake that records the request, so request shaping is tested
// without a network.
type Doer interface {
	Do(ctx context.Context, req *http.Request, v upstream.Validation) (*upstream.Response, error)
}

// ErrUnsafeIndicator is returned by Lookup when an indicator cannot be placed
// in a provider's request without changing its meaning — for example a path
// segment that would read as "." or "..". The gateway should answer it as a
// client error (invalid-parameter), not as an upstream failure.
var ErrUnsafeIndicator = errors.New("indicator cannot be placed safely in the upstream request")
