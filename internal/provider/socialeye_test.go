package provider

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/upstream"
)

func newTestSocialEye(t *testing.T, base string, types []indicator.Type, doer Doer) Provider {
	t.Helper()
	p, err := NewWithDoer("socialeye", &config.Provider{Kind: KindSocialEye, BaseURL: base, Types: types}, doer)
	require.NoError(t, err)
	return p
}

func TestSocialEyeRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		base     string
		ind      indicator.Indicator
		upstream string
		want     string
	}{
		{
			name: "auto type when the client gave none",
			base: "https://api.socialeye.net",
			ind:  indicator.Indicator{Value: "203.0.113.7", Type: indicator.IPv4},
			want: "GET https://api.socialeye.net/v1/resolve?query=203.0.113.7&type=auto\n" +
				"Accept: application/json\nAuthorization: Bearer {key}\n",
		},
		{
			name:     "client type passed through",
			base:     "https://api.socialeye.net",
			ind:      indicator.Indicator{Value: "alice", Type: indicator.Username},
			upstream: "username",
			want: "GET https://api.socialeye.net/v1/resolve?query=alice&type=username\n" +
				"Accept: application/json\nAuthorization: Bearer {key}\n",
		},
		{
			name: "base path prefix kept, trailing slash dropped",
			base: "https://gw.example.org/socialeye/",
			ind:  indicator.Indicator{Value: "example.com", Type: indicator.Domain},
			want: "GET https://gw.example.org/socialeye/v1/resolve?query=example.com&type=auto\n" +
				"Accept: application/json\nAuthorization: Bearer {key}\n",
		},
		{
			name: "query syntax in the value is escaped",
			base: "https://api.socialeye.net",
			ind:  indicator.Indicator{Value: "https://evil.example/a?b=1&type=x#f", Type: indicator.URL},
			want: "GET https://api.socialeye.net/v1/resolve?query=https%3A%2F%2Fevil.example%2Fa%3Fb%3D1%26type%3Dx%23f&type=auto\n" +
				"Accept: application/json\nAuthorization: Bearer {key}\n",
		},
		{
			name: "unicode is percent-encoded UTF-8",
			base: "https://api.socialeye.net",
			ind:  indicator.Indicator{Value: "jörg müller", Type: indicator.Username},
			want: "GET https://api.socialeye.net/v1/resolve?query=j%C3%B6rg+m%C3%BCller&type=auto\n" +
				"Accept: application/json\nAuthorization: Bearer {key}\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doer := &fakeDoer{}
			p := newTestSocialEye(t, tt.base, nil, doer)
			ctx := context.WithValue(context.Background(), ctxKey{}, tt.name)
			_, err := p.Lookup(ctx, Request{Indicator: tt.ind, UpstreamType: tt.upstream}, secret.NewValue(testKey))
			require.NoError(t, err)
			req, body, v := doer.only(t)
			require.Equal(t, tt.want, render(req, body, testKey))
			require.Equal(t, "Bearer "+testKey, req.Header.Get("Authorization"), "raw key on the wire")
			require.Equal(t, tt.name, req.Context().Value(ctxKey{}), "caller's context carried")
			require.Nil(t, v.NotFoundStatus, "transport default (404) applies")
		})
	}
}

type ctxKey struct{}

func TestSocialEyeResult(t *testing.T) {
	t.Parallel()
	body := []byte(`{"query":"203.0.113.7","whatever":[1,2,{"nested":true}]}`)
	doer := &fakeDoer{resp: &upstream.Response{Status: http.StatusOK, Body: body}}
	p := newTestSocialEye(t, "https://api.socialeye.net", nil, doer)
	res, err := p.Lookup(context.Background(), Request{Indicator: indicator.Indicator{Value: "203.0.113.7", Type: indicator.IPv4}}, secret.NewValue(testKey))
	require.NoError(t, err)
	require.False(t, res.NotFound)
	require.Equal(t, string(body), string(res.Data), "body passed on byte for byte")
}

func TestSocialEyeSupports(t *testing.T) {
	t.Parallel()
	all := newTestSocialEye(t, "https://api.socialeye.net", nil, &fakeDoer{})
	some := newTestSocialEye(t, "https://api.socialeye.net", []indicator.Type{indicator.Email, indicator.Phone}, &fakeDoer{})
	for _, typ := range []indicator.Type{indicator.IPv4, indicator.IPv6, indicator.Domain, indicator.URL, indicator.Email,
		indicator.MD5, indicator.SHA1, indicator.SHA256, indicator.Phone, indicator.Username} {
		require.True(t, all.Supports(typ), "default supports %s", typ)
		require.Equal(t, typ == indicator.Email || typ == indicator.Phone, some.Supports(typ), "configured subset, %s", typ)
	}
	require.False(t, all.Supports(indicator.Auto), "auto is never a detected type")
	require.False(t, all.Supports(""))
}

// Both kinds share the response mapping; this table runs it for each.
func TestLookupMapsUpstreamErrors(t *testing.T) {
	t.Parallel()
	httpCfg := &config.Provider{Kind: KindHTTP, BaseURL: "https://api.example.org", Types: []indicator.Type{indicator.IPv4},
		Request: &config.HTTPRequest{Path: "/ip/{indicator}"}}
	seCfg := &config.Provider{Kind: KindSocialEye, BaseURL: "https://api.socialeye.net"}
	kinds := []upstream.Kind{upstream.KindTLS, upstream.KindConnect, upstream.KindTimeout, upstream.KindTooLarge,
		upstream.KindContentType, upstream.KindMalformed, upstream.KindSchema, upstream.KindAuth,
		upstream.KindRateLimited, upstream.KindUpstream, upstream.KindRejected}
	for _, cfg := range []*config.Provider{seCfg, httpCfg} {
		t.Run(cfg.Kind+"/not_found", func(t *testing.T) {
			t.Parallel()
			doer := &fakeDoer{err: &upstream.Error{Kind: upstream.KindNotFound, Status: http.StatusNotFound, Detail: "no data"}}
			p, err := NewWithDoer("p", cfg, doer)
			require.NoError(t, err)
			res, err := p.Lookup(context.Background(), Request{Indicator: indicator.Indicator{Value: "203.0.113.7", Type: indicator.IPv4}}, secret.NewValue(testKey))
			require.NoError(t, err)
			require.Equal(t, Result{NotFound: true, Status: http.StatusNotFound}, res)
		})
		for _, kind := range kinds {
			t.Run(cfg.Kind+"/"+string(kind), func(t *testing.T) {
				t.Parallel()
				cause := errors.New("cause")
				sent := &upstream.Error{Kind: kind, Status: 429, RetryAfter: 7 * time.Second, Detail: "d", Err: cause}
				p, err := NewWithDoer("p", cfg, &fakeDoer{err: sent})
				require.NoError(t, err)
				res, err := p.Lookup(context.Background(), Request{Indicator: indicator.Indicator{Value: "203.0.113.7", Type: indicator.IPv4}}, secret.NewValue(testKey))
				require.Error(t, err)
				require.Equal(t, Result{}, res)
				var ue *upstream.Error
				require.ErrorAs(t, err, &ue)
				require.Equal(t, kind, ue.Kind)
				require.Equal(t, 429, ue.Status)
				require.Equal(t, 7*time.Second, ue.RetryAfter)
				require.ErrorIs(t, err, cause)
			})
		}
	}
}

func TestLookupRefusesMissingKeyAndEmptyIndicator(t *testing.T) {
	t.Parallel()
	cfgs := []*config.Provider{
		{Kind: KindSocialEye, BaseURL: "https://api.socialeye.net"},
		{Kind: KindHTTP, BaseURL: "https://api.example.org", Types: []indicator.Type{indicator.IPv4},
			Request: &config.HTTPRequest{Path: "/ip/{indicator}"}},
	}
	for _, cfg := range cfgs {
		t.Run(cfg.Kind, func(t *testing.T) {
			t.Parallel()
			doer := &fakeDoer{}
			p, err := NewWithDoer("p", cfg, doer)
			require.NoError(t, err)
			_, err = p.Lookup(context.Background(), Request{Indicator: indicator.Indicator{Value: "203.0.113.7", Type: indicator.IPv4}}, secret.Value{})
			require.ErrorIs(t, err, errNoKey)
			_, err = p.Lookup(context.Background(), Request{Indicator: indicator.Indicator{Type: indicator.IPv4}}, secret.NewValue(testKey))
			require.ErrorIs(t, err, ErrUnsafeIndicator)
			require.Zero(t, doer.calls(), "nothing sent upstream")
		})
	}
}
