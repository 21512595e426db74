package provider

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/upstream"
)

func httpCheckConfig(auth config.Auth, check *config.AuthCheck) *config.Provider {
	cfg := config.DefaultProvider()
	cfg.Kind = KindHTTP
	cfg.BaseURL = "https://api.example.net/base"
	cfg.Types = []indicator.Type{indicator.IPv4}
	cfg.Request = config.DefaultHTTPRequest()
	cfg.Request.Path = "/v1/ip/{indicator}"
	cfg.Request.Headers = map[string]string{"X-Client": "intelgate"}
	cfg.Request.Auth = auth
	cfg.AuthCheck = check
	return cfg
}

// The auth check is a fixed request: the configured path (or indicator)
// with the provider's own key placement and headers, nothing else.
func TestAuthCheckRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		auth  config.Auth
		check *config.AuthCheck
		want  string
	}{
		{"path, key in a header", config.Auth{In: AuthHeader, Name: "x-apikey"}, &config.AuthCheck{Path: "/v1/account"},
			"GET https://api.example.net/base/v1/account\nAccept: application/json\nX-Apikey: {key}\nX-Client: intelgate\n"},
		{"path, key in the query", config.Auth{In: AuthQuery, Name: "key"}, &config.AuthCheck{Path: "/v1/account"},
			"GET https://api.example.net/base/v1/account?key={key}\nAccept: application/json\nX-Client: intelgate\n"},
		{"path, bearer", config.Auth{In: AuthBearer}, &config.AuthCheck{Path: "/v1/account"},
			"GET https://api.example.net/base/v1/account\nAccept: application/json\nAuthorization: Bearer {key}\nX-Client: intelgate\n"},
		{"fixed indicator", config.Auth{In: AuthHeader, Name: "x-apikey"}, &config.AuthCheck{Indicator: "8.8.8.8"},
			"GET https://api.example.net/base/v1/ip/8.8.8.8\nAccept: application/json\nX-Apikey: {key}\nX-Client: intelgate\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doer := &fakeDoer{}
			p, err := NewWithDoer("vt", httpCheckConfig(tt.auth, tt.check), doer)
			require.NoError(t, err)
			require.NoError(t, p.(*HTTP).CheckAuth(context.Background(), secret.NewValue(testKey)))
			req, body, _ := doer.only(t)
			require.Equal(t, tt.want, render(req, body, testKey))
		})
	}
}

func TestAuthCheckOutcomes(t *testing.T) {
	t.Parallel()
	refused := &upstream.Error{Kind: upstream.KindAuth, Status: http.StatusUnauthorized, Detail: "refused"}
	doer := &fakeDoer{err: refused}
	p, err := NewWithDoer("se", socialEyeWithCheck(), doer)
	require.NoError(t, err)
	err = p.(*SocialEye).CheckAuth(context.Background(), secret.NewValue(testKey))
	var ue *upstream.Error
	require.ErrorAs(t, err, &ue)
	require.Equal(t, http.StatusUnauthorized, ue.Status, "the refusal's status reaches the caller, which decides")
	req, _, _ := doer.only(t)
	require.Equal(t, "example.com", req.URL.Query().Get("query"), "the configured fixed neutral query (socialeye's default)")

	// "No data" is an accepted key.
	doer = &fakeDoer{err: &upstream.Error{Kind: upstream.KindNotFound, Status: 404}}
	p, err = NewWithDoer("se", socialEyeWithCheck(), doer)
	require.NoError(t, err)
	require.NoError(t, p.(*SocialEye).CheckAuth(context.Background(), secret.NewValue(testKey)))

	// A fixed endpoint's 404 is a wrong path, not an accepted key.
	doer = &fakeDoer{err: &upstream.Error{Kind: upstream.KindNotFound, Status: 404}}
	p, err = NewWithDoer("vt", httpCheckConfig(config.Auth{In: AuthBearer}, &config.AuthCheck{Path: "/v1/acount-typo"}), doer)
	require.NoError(t, err)
	err = p.(*HTTP).CheckAuth(context.Background(), secret.NewValue(testKey))
	require.ErrorAs(t, err, &ue)
	require.Equal(t, upstream.KindRejected, ue.Kind, "inconclusive: neither accepted nor refused")

	// Without auth_check there is nothing to ask.
	p, err = NewWithDoer("vt", httpCheckConfig(config.Auth{In: AuthBearer}, nil), &fakeDoer{})
	require.NoError(t, err)
	require.ErrorIs(t, p.(*HTTP).CheckAuth(context.Background(), secret.NewValue(testKey)), ErrNoAuthCheck)
}

func socialEyeWithCheck() *config.Provider {
	return &config.Provider{Kind: KindSocialEye, BaseURL: "https://api.socialeye.net",
		AuthCheck: &config.AuthCheck{Indicator: config.DefaultSocialEyeAuthCheck}}
}

func TestAuthCheckIndicatorMustFitThePath(t *testing.T) {
	t.Parallel()
	cfg := httpCheckConfig(config.Auth{In: AuthBearer}, &config.AuthCheck{Indicator: "john/doe", Type: indicator.Username})
	cfg.Types = []indicator.Type{indicator.Username}
	_, err := NewWithDoer("vt", cfg, &fakeDoer{})
	require.ErrorContains(t, err, "auth_check.indicator: cannot be placed in the request path: it contains '/'")
}
