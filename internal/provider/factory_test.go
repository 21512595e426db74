package provider

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/upstream"
)

func TestClientOptions(t *testing.T) {
	t.Parallel()
	cfg := &config.Provider{
		TLS:              config.ProviderTLS{MinVersion: config.TLSVersion(tls.VersionTLS13), CAFile: "/etc/ca.pem", Pins: []string{"sha256/a", "sha256/b"}},
		Timeout:          config.Duration(12 * time.Second),
		MaxResponseBytes: config.ByteSize(1 << 20),
	}
	require.Equal(t, upstream.Options{
		MinVersion:       tls.VersionTLS13,
		CAFile:           "/etc/ca.pem",
		Pins:             []string{"sha256/a", "sha256/b"},
		Timeout:          12 * time.Second,
		MaxResponseBytes: 1 << 20,
	}, ClientOptions(cfg))
	require.Equal(t, upstream.Options{}, ClientOptions(&config.Provider{}), "unset stays zero for upstream's defaults")
}

func TestSchemaFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	require.NoError(t, os.WriteFile(good, []byte(`{"type":"object","required":["data"]}`), 0o600))
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"type": 7}`), 0o600))
	broken := filepath.Join(dir, "broken.json")
	require.NoError(t, os.WriteFile(broken, []byte(`{"type":`), 0o600))

	for _, kind := range []string{KindSocialEye, KindHTTP} {
		cfg := func(schema string) *config.Provider {
			c := httpConfig("https://api.example.org", config.HTTPRequest{Path: "/ip/{indicator}"})
			c.SchemaFile = schema
			if kind == KindSocialEye {
				c.Kind, c.Request = KindSocialEye, nil
			}
			return c
		}
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			doer := &fakeDoer{}
			p, err := NewWithDoer("p", cfg(good), doer)
			require.NoError(t, err)
			_, err = p.Lookup(context.Background(), Request{Indicator: indicator.Indicator{Value: "203.0.113.7", Type: indicator.IPv4}}, secret.NewValue(testKey))
			require.NoError(t, err)
			_, _, v := doer.only(t)
			require.NotNil(t, v.Schema, "compiled schema handed to the transport")
			require.Error(t, v.Schema.Validate(map[string]any{"other": 1}), "it is the configured schema")
			require.NoError(t, v.Schema.Validate(map[string]any{"data": 1}))

			for _, path := range []string{bad, broken, filepath.Join(dir, "missing.json")} {
				_, err := NewWithDoer("p", cfg(path), &fakeDoer{})
				require.ErrorContains(t, err, `building provider "p": schema_file "`+path+`"`)
			}
		})
	}
}

// Guard against the defaults drifting: the transport maps a nil
// NotFoundStatus to [404], so socialeye sends none.
func TestSocialEyeValidationDefaults(t *testing.T) {
	t.Parallel()
	doer := &fakeDoer{resp: &upstream.Response{Status: http.StatusOK, Body: []byte(`{}`)}}
	p := newTestSocialEye(t, "https://api.socialeye.net", nil, doer)
	_, err := p.Lookup(context.Background(), Request{Indicator: indicator.Indicator{Value: "x", Type: indicator.Username}}, secret.NewValue(testKey))
	require.NoError(t, err)
	_, _, v := doer.only(t)
	require.Equal(t, upstream.Validation{Secret: testKey}, v,
		"default validation, and the key named so error details are withheld for it alone")
}
