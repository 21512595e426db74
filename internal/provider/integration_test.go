package provider

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/upstream"
)

// TestNewOverRealTLS proves New wires the provider's TLS settings into the
// transport: with the test server's CA and pin the call goes through; with a
// wrong pin or without the CA, the handshake fails before any request (and
// so any key) reaches the server.
func TestNewOverRealTLS(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("X-Apikey") != testKey || r.URL.Query().Get("ip") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("ip") == "192.0.2.1" {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":"unknown"}`))
			return
		}
		_, _ = w.Write([]byte(`{"path":"` + r.URL.EscapedPath() + `","ip":"` + r.URL.Query().Get("ip") + `"}`))
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)

	cert := srv.Certificate()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600))
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	goodPin := "sha256/" + base64.StdEncoding.EncodeToString(sum[:])
	otherSum := sha256.Sum256([]byte("not this key"))
	wrongPin := "sha256/" + base64.StdEncoding.EncodeToString(otherSum[:])

	providerCfg := func(tlsCfg config.ProviderTLS) *config.Provider {
		return &config.Provider{
			Kind:    KindHTTP,
			BaseURL: srv.URL + "/api",
			Types:   []indicator.Type{indicator.IPv4},
			TLS:     tlsCfg,
			Request: &config.HTTPRequest{
				Path:  "/v1/check",
				Query: map[string]string{"ip": "{indicator}"},
				Auth:  config.Auth{In: AuthHeader, Name: "X-Apikey"},
			},
		}
	}
	lookup := func(t *testing.T, p Provider, ip string) (Result, error) {
		t.Helper()
		return p.Lookup(context.Background(), Request{Indicator: indicator.Indicator{Value: ip, Type: indicator.IPv4}}, secret.NewValue(testKey))
	}

	t.Run("CA and matching pin, with a backup pin", func(t *testing.T) {
		p, _, err := New("tlsprov", providerCfg(config.ProviderTLS{
			MinVersion: config.TLSVersion(tls.VersionTLS12), CAFile: caFile, Pins: []string{wrongPin, goodPin}}))
		require.NoError(t, err)
		res, err := lookup(t, p, "203.0.113.7")
		require.NoError(t, err)
		require.JSONEq(t, `{"path":"/api/v1/check","ip":"203.0.113.7"}`, string(res.Data))

		res, err = lookup(t, p, "192.0.2.1")
		require.NoError(t, err)
		require.True(t, res.NotFound, "upstream 404 is not_found")
	})

	for _, tc := range []struct {
		name string
		tls  config.ProviderTLS
	}{
		{"pin mismatch", config.ProviderTLS{CAFile: caFile, Pins: []string{wrongPin}}},
		{"no CA for a self-signed chain", config.ProviderTLS{Pins: []string{goodPin}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := hits.Load()
			p, _, err := New("tlsprov", providerCfg(tc.tls))
			require.NoError(t, err)
			_, err = lookup(t, p, "203.0.113.7")
			var ue *upstream.Error
			require.ErrorAs(t, err, &ue)
			require.Equal(t, upstream.KindTLS, ue.Kind)
			require.NotContains(t, err.Error(), testKey)
			require.Equal(t, before, hits.Load(), "no request reached the server")
		})
	}
}
