package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Result statuses of one provider in a lookup.
const (
	StatusOK       = "ok"
	StatusNotFound = "not_found"
	StatusError    = "error"
	// StatusWithheld: the gateway's query minimisation kept the indicator
	// from this provider (Result.Rule says which rule); nothing was sent.
	StatusWithheld = "withheld"
)

// LookupOptions narrows a lookup. A nil *LookupOptions means auto-detected
// type and every provider the token may use.
type LookupOptions struct {
	// Type is the indicator type (ipv4, domain, sha256, …); "" or "auto"
	// lets the gateway detect it.
	Type string
	// Providers limits the fan-out to these providers; empty means all
	// permitted ones that support the type.
	Providers []string
	// TLP and PAP mark the request (TLP 2.0: clear, green, amber,
	// amber+strict, red; PAP: clear, green, amber, red); "" uses the
	// client's defaults. A provider whose ceiling they exceed is not asked.
	TLP, PAP string
	// Refresh asks for a fresh answer past the cache; the gateway refuses
	// it (refresh-not-allowed) unless the client has allow_refresh.
	Refresh bool
}

// LookupResponse is the gateway's answer to GET /v1/lookup.
type LookupResponse struct {
	Indicator  string   `json:"indicator"`  // as sent
	Type       string   `json:"type"`       // detected or given type
	Normalized string   `json:"normalized"` // refanged, normalised form the providers saw
	Results    []Result `json:"results"`    // one per provider, in the gateway's order

	// RequestID is the gateway's X-Request-Id for this call.
	RequestID string `json:"-"`
	// Raw is the body exactly as received, for fields this version of the
	// SDK does not know yet.
	Raw json.RawMessage `json:"-"`
}

// Result is one provider's answer. A provider failing is reported here, not
// as an error of the whole Lookup.
type Result struct {
	Provider  string          `json:"provider"`
	Status    string          `json:"status"`     // StatusOK, StatusNotFound, StatusError or StatusWithheld
	Cached    bool            `json:"cached"`     // served from the gateway's cache
	Stale     bool            `json:"stale"`      // cached and past its TTL, because the provider could not answer
	FetchedAt *time.Time      `json:"fetched_at"` // when the provider answered; nil on error and withheld
	Data      json.RawMessage `json:"data"`       // the provider's JSON object, only when ok
	Error     *ResultError    `json:"error"`      // only when status is error
	// Rule names the query-minimisation rule, only when withheld.
	Rule string `json:"rule,omitempty"`
}

// ResultError is the problem one provider had, in the gateway's problem
// vocabulary (Type starts with ProblemTypeBase).
type ResultError struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	// Parameter names the request parameter this provider could not use
	// (an indicator it cannot place in its request path), if any.
	Parameter string `json:"parameter,omitempty"`
}

// Lookup asks every permitted provider about indicator (GET /v1/lookup).
// Non-2xx answers are returned as *Error.
func (c *Client) Lookup(ctx context.Context, indicator string, opts *LookupOptions) (*LookupResponse, error) {
	if indicator == "" {
		return nil, errors.New("lookup: indicator is empty")
	}
	q := url.Values{"indicator": {indicator}}
	if opts != nil {
		if opts.Type != "" {
			q.Set("type", opts.Type)
		}
		if len(opts.Providers) > 0 {
			for _, p := range opts.Providers {
				if p == "" || strings.Contains(p, ",") {
					return nil, fmt.Errorf("lookup: invalid provider name %q", p)
				}
			}
			q.Set("providers", strings.Join(opts.Providers, ","))
		}
		if opts.Refresh {
			q.Set("refresh", "true")
		}
	}
	rep, err := c.getWith(ctx, "v1/lookup", q, opts.markings())
	if err != nil {
		return nil, fmt.Errorf("lookup: %w", err)
	}
	var out LookupResponse
	if err := json.Unmarshal(rep.body, &out); err != nil {
		return nil, fmt.Errorf("lookup: decoding response: %w", err)
	}
	for i := range out.Results {
		// The gateway sends "data": null when there is none; nil is the
		// Go spelling of that.
		if string(out.Results[i].Data) == "null" {
			out.Results[i].Data = nil
		}
	}
	out.RequestID = rep.header.Get("X-Request-Id")
	out.Raw = rep.body
	return &out, nil
}

// markings are the request headers of o's TLP and PAP.
func (o *LookupOptions) markings() http.Header {
	if o == nil || (o.TLP == "" && o.PAP == "") {
		return nil
	}
	h := http.Header{}
	if o.TLP != "" {
		h.Set("X-Intelgate-TLP", o.TLP)
	}
	if o.PAP != "" {
		h.Set("X-Intelgate-PAP", o.PAP)
	}
	return h
}
