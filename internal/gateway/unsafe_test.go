package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/lookup"
	"github.com/intelgate/intelgate/internal/provider"
	"github.com/intelgate/intelgate/internal/upstream"
)

// countingDoer answers every upstream call with an empty object and counts.
type countingDoer struct{ calls atomic.Int64 }

func (d *countingDoer) Do(context.Context, *http.Request, upstream.Validation) (*upstream.Response, error) {
	d.calls.Add(1)
	return &upstream.Response{Status: http.StatusOK, Body: []byte(`{}`)}, nil
}

// TestLookupPathEscapeIsThatProvidersError: a real kind: http provider with
// the indicator in its path refuses a traversal username; on /v1/lookup that
// is its own 400 result, naming the parameter and the reason without the
// value, and the other provider still answers.
func TestLookupPathEscapeIsThatProvidersError(t *testing.T) {
	t.Parallel()
	doer := &countingDoer{}
	vt, err := provider.NewWithDoer("vt", &config.Provider{Kind: provider.KindHTTP, BaseURL: "https://api.example.org",
		Types: []indicator.Type{indicator.Username}, Request: &config.HTTPRequest{Path: "/v1/users/{indicator}"}}, doer)
	require.NoError(t, err)
	h := newHarness(t, false, okProvider("socialeye", allTypes...), vt)

	rec := h.do(t, http.MethodGet, "/v1/lookup?indicator="+url.QueryEscape("../admin"), testToken)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var resp LookupResponse
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
	require.Equal(t, indicator.Username, resp.Type)
	require.Len(t, resp.Results, 2)
	se, refused := resp.Results[0], resp.Results[1]
	require.Equal(t, "ok", se.Status)
	require.Equal(t, "vt", refused.Provider)
	require.Equal(t, "error", refused.Status)
	require.Equal(t, &ResultError{Type: problemBase + "invalid-parameter", Title: "Invalid request parameter", Status: 400,
		Detail:    "indicator: provider vt cannot place this value in its request path: it contains '/', a path separator",
		Parameter: "indicator"}, refused.Error)
	require.Zero(t, doer.calls.Load(), "nothing sent upstream")
	require.NotContains(t, h.log.String(), "../admin", "indicators are not logged unless enabled")

	// An ordinary username goes through the same provider.
	rec = h.do(t, http.MethodGet, "/v1/lookup?indicator=jane.doe&providers=vt", testToken)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
	require.Equal(t, "ok", resp.Results[0].Status)
	require.Equal(t, int64(1), doer.calls.Load())
}

func TestUnsafeIndicatorProblem(t *testing.T) {
	t.Parallel()
	s := newLookups(t, lookup.Options{})
	p := failureProblem(s.Classify(context.Background(), lookup.Identity{}, "vt", &provider.UnsafeIndicatorError{Reason: "contains ';', which starts path parameters"}))
	require.Equal(t, problemBase+"invalid-parameter", p.Type)
	require.Equal(t, "indicator", p.Parameter)
	require.Equal(t, "indicator: provider vt cannot place this value in its request path: it contains ';', which starts path parameters", p.Detail)
	p = failureProblem(s.Classify(context.Background(), lookup.Identity{}, "socialeye", provider.ErrUnsafeIndicator))
	require.Equal(t, "indicator", p.Parameter)
	require.Equal(t, "indicator: provider socialeye cannot look up this value safely", p.Detail)
}
