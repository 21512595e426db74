package gateway

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/indicator"
)

// TestRepeatedParametersAreRefused: a single-valued parameter given twice is
// a 400 naming it, before any provider is asked; providers is one
// comma-separated list, so repeating the parameter is refused too.
func TestRepeatedParametersAreRefused(t *testing.T) {
	t.Parallel()
	se, vt := okProvider("socialeye", allTypes...), okProvider("vt", indicator.IPv4)
	h := newHarness(t, false, se, vt)
	cases := []struct{ name, target, param, detail string }{
		{"resolve query", "/v1/resolve?query=a&query=b", "query", "query: given more than once; send it once"},
		{"resolve query, one empty", "/v1/resolve?query=a&query=", "query", "query: given more than once"},
		{"resolve type", "/v1/resolve?query=a&type=auto&type=email", "type", "type: given more than once"},
		{"lookup indicator", "/v1/lookup?indicator=8.8.8.8&indicator=1.1.1.1", "indicator", "indicator: given more than once"},
		{"lookup type", "/v1/lookup?indicator=8.8.8.8&type=ipv4&type=auto", "type", "type: given more than once"},
		{"lookup providers", "/v1/lookup?indicator=8.8.8.8&providers=vt&providers=socialeye", "providers",
			"providers: given more than once; send one comma-separated list: providers=a,b"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := h.do(t, http.MethodGet, tc.target, testToken)
			require.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
			p := decodeProblem(t, rec)
			require.Equal(t, problemBase+"invalid-parameter", p.Type)
			require.Equal(t, tc.param, p.Parameter)
			require.Contains(t, p.Detail, tc.detail)
		})
	}
	require.Empty(t, se.reqs, "no provider is asked an ambiguous question")
	require.Empty(t, vt.reqs)

	// The documented list form still works.
	rec := h.do(t, http.MethodGet, "/v1/lookup?indicator=8.8.8.8&providers=vt,socialeye", testToken)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
}
