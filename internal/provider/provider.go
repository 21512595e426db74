// Package provider holds the Provider interface and its implementations:
// socialeye and the declarative http provider.
package provider

import (
	"context"
	"encoding/json"

	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/secret"
)

// Request is one lookup.
type Request struct {
	Indicator indicator.Indicator
	// UpstreamType is the client's own type parameter for pass-through
	// endpoints (/v1/resolve); "" lets the provider choose (auto).
	UpstreamType string
}

// Result is a provider's answer. Data is a validated JSON object, nil when
// NotFound.
type Result struct {
	Data     json.RawMessage
	NotFound bool
}

// Provider answers lookups. Errors are *upstream.Error for upstream failures.
type Provider interface {
	Name() string
	Supports(t indicator.Type) bool
	Lookup(ctx context.Context, req Request, key secret.Value) (Result, error)
}
