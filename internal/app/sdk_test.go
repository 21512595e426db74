package app

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/client"
	"github.com/intelgate/intelgate/internal/sim"
)

// strictDecode decodes body into v refusing fields v does not have: a
// field the server sends and the SDK does not know is drift between them.
func strictDecode(t *testing.T, body []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(v), "the SDK's %T does not match what the server sends:\n%s", v, body)
}

// problemFields are the members of a problem the SDK's *client.Error holds.
var problemFields = map[string]bool{"type": true, "title": true, "status": true, "detail": true,
	"request_id": true, "parameter": true}

// TestSDKDecodesRealServerResponses pins the public SDK's wire types to
// what the server really sends — not to hand-written fixtures: resolve,
// lookup (ok, not_found and error results), quota, and the problems a
// client meets, each decoded strictly and through the SDK itself.
func TestSDKDecodesRealServerResponses(t *testing.T) {
	t.Parallel()
	s, gw, raw, token := e2e(t, sim.Options{}, func(*sim.Server) govCfg {
		return govCfg{client: "    limits: {rate: 1000/s, quotas: {day: 100000}}\n"}
	})
	ctx := context.Background()
	sdk, err := client.New(gw.url, token, client.WithMaxAttempts(1))
	require.NoError(t, err)

	// resolve
	res, err := sdk.Resolve(ctx, "johndoe", "")
	require.NoError(t, err)
	require.Equal(t, client.CacheMiss, res.Cache)
	require.NotEmpty(t, res.RequestID)
	var obj map[string]any
	require.NoError(t, json.Unmarshal(res.Data, &obj), "the upstream's JSON object")

	// lookup: one provider ok, then not found
	for _, ind := range []string{"8.8.8.8", "notfound-alice"} {
		r := raw.get(t, gw.url, "/v1/lookup?indicator="+ind)
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		var strict client.LookupResponse
		strictDecode(t, r.body, &strict)
		lr, err := sdk.Lookup(ctx, ind, nil)
		require.NoError(t, err)
		require.Len(t, lr.Results, 1)
		require.Equal(t, strict.Results[0].Status, lr.Results[0].Status)
	}
	// lookup: a provider error (the upstream fails)
	s.Sim.SetFaults(sim.Faults{ErrorRate: 1})
	r := raw.get(t, gw.url, "/v1/lookup?indicator=8.8.4.4")
	var failed client.LookupResponse
	strictDecode(t, r.body, &failed)
	require.Equal(t, client.StatusError, failed.Results[0].Status)
	require.Equal(t, http.StatusBadGateway, failed.Results[0].Error.Status)
	s.Sim.SetFaults(sim.Faults{})

	// quota
	r = raw.get(t, gw.url, "/v1/quota")
	var quota client.QuotaResponse
	strictDecode(t, r.body, &quota)
	q, err := sdk.Quota(ctx)
	require.NoError(t, err)
	require.Equal(t, "siem", q.Client.Name)
	require.NotNil(t, q.Client.Rate)
	require.Equal(t, 1000, q.Client.Rate.Rate)
	require.Equal(t, quota.Providers, q.Providers)

	// problems: every member of each one is one the SDK's Error holds, and
	// the SDK reads them into it.
	bad, err := client.New(gw.url, "igt_"+"not-the-token", client.WithMaxAttempts(1))
	require.NoError(t, err)
	cases := []struct {
		name   string
		call   func() error
		path   string // the same request, read raw
		token  string
		status int
		slug   string
		param  string
	}{
		{"unauthenticated", func() error { _, err := bad.Quota(ctx); return err }, "/v1/quota", "igt_not-the-token",
			http.StatusUnauthorized, "unauthenticated", ""},
		{"invalid parameter", func() error {
			_, err := sdk.Lookup(ctx, "8.8.8.8", &client.LookupOptions{Type: "nonsense"})
			return err
		},
			"/v1/lookup?indicator=8.8.8.8&type=nonsense", token, http.StatusBadRequest, "invalid-parameter", "type"},
		{"unknown provider", func() error {
			_, err := sdk.Lookup(ctx, "8.8.8.8", &client.LookupOptions{Providers: []string{"nope"}})
			return err
		}, "/v1/lookup?indicator=8.8.8.8&providers=nope", token, http.StatusBadRequest, "unknown-provider", "providers"},
		{"not found", func() error { _, err := sdk.Resolve(ctx, "notfound-bob", ""); return err },
			"/v1/resolve?query=notfound-bob", token, http.StatusNotFound, "not-found", ""},
	}
	for _, tc := range cases {
		err := tc.call()
		e, ok := client.AsError(err)
		require.True(t, ok, "%s: want *client.Error, got %v", tc.name, err)
		require.Equal(t, tc.status, e.Status, tc.name)
		require.Equal(t, tc.slug, e.Slug(), tc.name)
		require.Equal(t, tc.param, e.Parameter, tc.name)
		require.NotEmpty(t, e.RequestID, tc.name)

		rr := newGovClient(t, tc.token)
		resp, err := rr.do(gw.url, tc.path)
		require.NoError(t, err)
		var members map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(resp.body, &members), tc.name)
		for k := range members {
			require.True(t, problemFields[k], "%s: the server sends problem member %q, which client.Error does not hold", tc.name, k)
		}
	}
}
