package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"time"
)

// Cache states reported by the gateway in X-Intelgate-Cache.
const (
	CacheHit   = "hit"
	CacheMiss  = "miss"
	CacheStale = "stale"
)

// ResolveResponse is the answer of GET /v1/resolve, the SocialEye drop-in.
type ResolveResponse struct {
	// Data is the upstream's JSON object, unchanged.
	Data json.RawMessage
	// Cache is CacheHit, CacheMiss or CacheStale ("" if the gateway did not say).
	Cache string
	// Age is how old a cached answer is (the Age header); zero for a miss.
	Age       time.Duration
	RequestID string
}

// Resolve asks SocialEye through the gateway about query; typ may be "" to
// let SocialEye decide. Non-2xx answers are returned as *Error.
func (c *Client) Resolve(ctx context.Context, query, typ string) (*ResolveResponse, error) {
	if query == "" {
		return nil, errors.New("resolve: query is empty")
	}
	q := url.Values{"query": {query}}
	if typ != "" {
		q.Set("type", typ)
	}
	rep, err := c.get(ctx, "v1/resolve", q)
	if err != nil {
		return nil, fmt.Errorf("resolve: %w", err)
	}
	// The gateway validates upstream bodies; checking again keeps a proxy's
	// HTML error page from reaching the caller as "data".
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(rep.body, &obj); err != nil || obj == nil {
		return nil, errors.New("resolve: response is not a JSON object")
	}
	out := &ResolveResponse{
		Data:      json.RawMessage(bytes.TrimSpace(rep.body)),
		Cache:     rep.header.Get("X-Intelgate-Cache"),
		RequestID: rep.header.Get("X-Request-Id"),
	}
	if s, err := strconv.ParseInt(rep.header.Get("Age"), 10, 64); err == nil && s > 0 {
		out.Age = time.Duration(min(s, math.MaxInt64/int64(time.Second))) * time.Second
	}
	return out, nil
}
