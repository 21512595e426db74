package provider

import (
	"context"
	"net/http"
	"testing"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/upstream"
)

// cannedDoer answers every call with the same response and keeps nothing,
// so a benchmark counts the provider's own work: shaping the request and
// mapping the answer.
type cannedDoer struct{ resp *upstream.Response }

func (d cannedDoer) Do(context.Context, *http.Request, upstream.Validation) (*upstream.Response, error) {
	return d.resp, nil
}

// BenchmarkLookup is a provider's share of a miss: everything but the
// transport.
func BenchmarkLookup(b *testing.B) {
	doer := cannedDoer{&upstream.Response{Status: http.StatusOK, Body: []byte(`{"ok":true}`)}}
	configs := map[string]*config.Provider{
		KindSocialEye: {Kind: KindSocialEye, BaseURL: "https://api.socialeye.net"},
		KindHTTP:      httpConfig("https://api.example.org", config.HTTPRequest{Path: "/ip/{indicator}"}),
		// The parameters and the key in the query, then in a form body.
		"http_query": httpConfig("https://api.example.org", config.HTTPRequest{Path: "/v1/check",
			Query: map[string]string{"ip": "{indicator}", "kind": "{type}", "verbose": "1"},
			Auth:  config.Auth{In: AuthQuery, Name: "key"}}),
		"http_form": httpConfig("https://api.example.org", config.HTTPRequest{Method: "POST", Path: "/v1/host/",
			Query: map[string]string{"host": "{indicator}"}, Auth: config.Auth{In: AuthQuery, Name: "auth-key"},
			Headers: map[string]string{"X-Client": "intelgate"}}),
	}
	for kind, cfg := range configs {
		b.Run(kind, func(b *testing.B) {
			p, err := NewWithDoer("p", cfg, doer)
			if err != nil {
				b.Fatal(err)
			}
			req := Request{Indicator: indicator.Indicator{Value: "203.0.113.7", Type: indicator.IPv4}}
			key := secret.NewValue(testKey)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Lookup(ctx, req, key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
