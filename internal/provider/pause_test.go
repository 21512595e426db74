package provider

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/upstream"
)

// TestLookupCarriesPauseHint: both kinds pass the transport's "quota
// exhausted" hint on, for answers with data and for "no data" answers, so
// the governor can pause the key before the upstream says 429.
func TestLookupCarriesPauseHint(t *testing.T) {
	t.Parallel()
	cfgs := []*config.Provider{
		{Kind: KindSocialEye, BaseURL: "https://api.socialeye.net"},
		{Kind: KindHTTP, BaseURL: "https://api.example.org", Types: []indicator.Type{indicator.IPv4},
			Request: &config.HTTPRequest{Path: "/ip/{indicator}"}},
	}
	tests := []struct {
		name string
		doer *fakeDoer
		want Result
	}{
		{"data, exhausted", &fakeDoer{resp: &upstream.Response{Status: http.StatusOK, Body: []byte(`{}`), ExhaustedFor: 9 * time.Second}},
			Result{Data: []byte(`{}`), Status: http.StatusOK, PauseFor: 9 * time.Second}},
		{"data, units left", &fakeDoer{resp: &upstream.Response{Status: http.StatusOK, Body: []byte(`{}`)}},
			Result{Data: []byte(`{}`), Status: http.StatusOK}},
		{"not found, exhausted", &fakeDoer{err: &upstream.Error{Kind: upstream.KindNotFound, Status: 404, RetryAfter: 4 * time.Second}},
			Result{NotFound: true, Status: 404, PauseFor: 4 * time.Second}},
	}
	for _, cfg := range cfgs {
		for _, tc := range tests {
			t.Run(cfg.Kind+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				p, err := NewWithDoer("p", cfg, tc.doer)
				require.NoError(t, err)
				res, err := p.Lookup(context.Background(),
					Request{Indicator: indicator.Indicator{Value: "203.0.113.7", Type: indicator.IPv4}}, secret.NewValue(testKey))
				require.NoError(t, err)
				require.Equal(t, tc.want, res)
			})
		}
	}
}
