package provider

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/upstream"
)

// A transport error quoting the request URL must not carry the key out of
// Lookup, whatever shape the error has.
func TestLookupRedactsKeyFromErrors(t *testing.T) {
	t.Parallel()
	leakyURL := "https://api.example.org/check?apikey=" + url.QueryEscape(testKey) + "&q=203.0.113.7"
	tests := []struct {
		name     string
		err      error
		wantKind upstream.Kind // "" when the error is not an *upstream.Error
	}{
		{
			name: "url.Error inside upstream.Error",
			err: &upstream.Error{Kind: upstream.KindTimeout, Detail: "request timed out",
				Err: &url.Error{Op: "Get", URL: leakyURL, Err: context.DeadlineExceeded}},
			wantKind: upstream.KindTimeout,
		},
		{
			name:     "raw key in detail",
			err:      &upstream.Error{Kind: upstream.KindConnect, Detail: "dial failed for key " + testKey},
			wantKind: upstream.KindConnect,
		},
		{
			name:     "wrapped upstream.Error",
			err:      fmt.Errorf("attempt 2: %w", &upstream.Error{Kind: upstream.KindUpstream, Status: 502, Detail: "bad gateway", Err: errors.New("GET " + leakyURL)}),
			wantKind: upstream.KindUpstream,
		},
		{
			name: "plain url.Error",
			err:  &url.Error{Op: "Get", URL: leakyURL, Err: context.DeadlineExceeded},
		},
	}
	cfg := httpConfig("https://api.example.org", config.HTTPRequest{Path: "/check",
		Query: map[string]string{"q": "{indicator}"}, Auth: config.Auth{In: "query", Name: "apikey"}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.True(t, containsAny(tt.err.Error(), keyForms(testKey)), "fixture must contain the key")
			p, err := NewWithDoer("p", cfg, &fakeDoer{err: tt.err})
			require.NoError(t, err)
			_, err = p.Lookup(context.Background(), Request{Indicator: indicator.Indicator{Value: "203.0.113.7", Type: indicator.IPv4}}, secret.NewValue(testKey))
			require.Error(t, err)
			for _, msg := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				for _, form := range keyForms(testKey) {
					require.NotContains(t, msg, form)
				}
			}
			require.Contains(t, err.Error(), secret.Redacted)
			for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
				require.NotContains(t, e.Error(), url.QueryEscape(testKey), "no unwrapped cause holds the key")
			}
			var ue *upstream.Error
			if tt.wantKind == "" {
				require.False(t, errors.As(err, &ue))
			} else {
				require.ErrorAs(t, err, &ue)
				require.Equal(t, tt.wantKind, ue.Kind)
			}
			if errors.Is(tt.err, context.DeadlineExceeded) {
				require.ErrorIs(t, err, context.DeadlineExceeded, "errors.Is still sees the cause")
			}
		})
	}
}

func TestRedactLeavesCleanErrorsAlone(t *testing.T) {
	t.Parallel()
	orig := &upstream.Error{Kind: upstream.KindAuth, Status: 401, Detail: "upstream refused the key"}
	require.Same(t, orig, redact(orig, testKey).(*upstream.Error))
	require.Nil(t, redact(nil, testKey))
}
