package upstream

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/intelgate/intelgate/internal/tlspolicy"
	"github.com/intelgate/intelgate/internal/upstream/upstreamtest"
	"github.com/stretchr/testify/require"
)

func randomPin(t *testing.T) string {
	t.Helper()
	b := make([]byte, sha256.Size)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return "sha256/" + base64.StdEncoding.EncodeToString(b)
}

// TestTLSVerification runs each TLS check against a real handshake on
// loopback; wantDetail "" means the call must succeed.
func TestTLSVerification(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	hour := time.Hour
	tests := []struct {
		name       string
		cert       func(t *testing.T) tls.Certificate
		server     func(*tls.Config)
		opts       func(o *Options)
		wantDetail string
	}{
		{name: "valid chain via CA file"},
		{
			name: "expired certificate",
			cert: func(t *testing.T) tls.Certificate {
				return p.inter.Leaf(t, upstreamtest.LeafOptions{NotBefore: time.Now().Add(-48 * hour), NotAfter: time.Now().Add(-24 * hour)})
			},
			wantDetail: "certificate has expired or is not yet valid",
		},
		{
			name: "not yet valid certificate",
			cert: func(t *testing.T) tls.Certificate {
				return p.inter.Leaf(t, upstreamtest.LeafOptions{NotBefore: time.Now().Add(hour), NotAfter: time.Now().Add(48 * hour)})
			},
			wantDetail: "certificate has expired or is not yet valid",
		},
		{
			name: "wrong host",
			cert: func(t *testing.T) tls.Certificate {
				return p.inter.Leaf(t, upstreamtest.LeafOptions{Hosts: []string{"example.test"}})
			},
			wantDetail: "certificate is not valid for host 127.0.0.1",
		},
		{
			name:       "self-signed without CA file",
			cert:       func(t *testing.T) tls.Certificate { return upstreamtest.SelfSigned(t, upstreamtest.LeafOptions{}) },
			opts:       func(o *Options) { o.CAFile = "" },
			wantDetail: "certificate signed by unknown authority",
		},
		{
			name:       "private CA without CA file",
			opts:       func(o *Options) { o.CAFile = "" },
			wantDetail: "certificate signed by unknown authority",
		},
		{
			name: "pin matching an untrusted self-signed certificate is not enough",
			cert: func(t *testing.T) tls.Certificate { return upstreamtest.SelfSigned(t, upstreamtest.LeafOptions{}) },
			opts: func(o *Options) {
				o.CAFile = ""
				o.Pins = []string{Pin(upstreamtest.SelfSigned(t, upstreamtest.LeafOptions{}).Leaf)}
			},
			wantDetail: "certificate signed by unknown authority",
		},
		{
			name:       "pin mismatch with valid chain",
			opts:       func(o *Options) { o.Pins = []string{randomPin(t)} },
			wantDetail: "certificate public key does not match any configured pin",
		},
		{name: "leaf pin", opts: func(o *Options) { o.Pins = []string{Pin(p.leaf.Leaf)} }},
		{name: "backup pin on intermediate", opts: func(o *Options) { o.Pins = []string{randomPin(t), Pin(p.inter.Cert)} }},
		{name: "root pin", opts: func(o *Options) { o.Pins = []string{Pin(p.root.Cert)} }},
		{
			name:       "server capped at TLS 1.1",
			server:     func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11 },
			wantDetail: "server does not support TLS 1.2 or later (protocol version)",
		},
		{
			name:       "server capped at TLS 1.2 when 1.3 is required",
			server:     func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 },
			opts:       func(o *Options) { o.MinVersion = tls.VersionTLS13 },
			wantDetail: "server does not support TLS 1.3 or later (protocol version)",
		},
		{name: "TLS 1.3 required and offered", opts: func(o *Options) { o.MinVersion = tls.VersionTLS13 }},
		{
			name: "server offering only CBC suites",
			server: func(c *tls.Config) {
				c.MaxVersion = tls.VersionTLS12
				c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256}
			},
			wantDetail: "TLS handshake failed",
		},
		{
			name:       "server offering only P-384",
			server:     func(c *tls.Config) { c.CurvePreferences = []tls.CurveID{tls.CurveP384} },
			wantDetail: "TLS handshake failed",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cert := p.leaf
			if tc.cert != nil {
				cert = tc.cert(t)
			}
			srv := startTLS(t, cert, okJSON, tc.server)
			o := Options{CAFile: p.caFile}
			if tc.opts != nil {
				tc.opts(&o)
			}
			c := newClient(t, o)
			resp, err := get(t.Context(), t, c, srv.URL+"/v1/resolve", Validation{})
			if tc.wantDetail == "" {
				require.NoError(t, err)
				require.JSONEq(t, `{"ok":true}`, string(resp.Body))
				return
			}
			ue := requireKind(t, err, KindTLS)
			require.Contains(t, ue.Detail, tc.wantDetail)
			require.Zero(t, ue.Status)
		})
	}
}

// TestClientHelloOffersOnlyPolicy inspects what the client actually offers:
// only TLS ≥1.2, only ECDHE+AEAD suites for 1.2, only our curves.
func TestClientHelloOffersOnlyPolicy(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	hellos := make(chan *tls.ClientHelloInfo, 1)
	srv := startTLS(t, p.leaf, okJSON, func(c *tls.Config) {
		c.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			select {
			case hellos <- h:
			default:
			}
			return nil, nil
		}
	})
	c := newClient(t, Options{CAFile: p.caFile})
	_, err := get(t.Context(), t, c, srv.URL, Validation{})
	require.NoError(t, err)
	h := <-hellos
	for _, v := range h.SupportedVersions {
		require.GreaterOrEqual(t, v, uint16(tls.VersionTLS12), "offered %s", tls.VersionName(v))
	}
	tls13 := []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_AES_256_GCM_SHA384, tls.TLS_CHACHA20_POLY1305_SHA256}
	for _, s := range h.CipherSuites {
		require.True(t, slices.Contains(tlspolicy.CipherSuites(), s) || slices.Contains(tls13, s), "offered %s", tls.CipherSuiteName(s))
	}
	for _, cv := range h.SupportedCurves {
		require.Contains(t, curves, cv)
	}
}

// TestPlainHTTPOnTLSPort: a server that does not speak TLS at all.
func TestPlainHTTPOnTLSPort(t *testing.T) {
	t.Parallel()
	srv := httptestPlain(t, okJSON)
	c := newClient(t, Options{})
	_, err := get(t.Context(), t, c, "https://"+srv.Listener.Addr().String(), Validation{})
	ue := requireKind(t, err, KindTLS)
	require.Equal(t, "server did not answer with TLS", ue.Detail)
}

func TestPlaintextRefusedExceptLoopback(t *testing.T) {
	t.Parallel()
	c := newClient(t, Options{})
	_, err := get(t.Context(), t, c, "http://api.example.test/v1/resolve?query=x", Validation{})
	ue := requireKind(t, err, KindRejected)
	require.Contains(t, ue.Detail, "refusing plaintext http")

	_, err = get(t.Context(), t, c, "ftp://api.example.test/", Validation{})
	requireKind(t, err, KindRejected)

	srv := httptestPlain(t, okJSON)
	resp, err := get(t.Context(), t, c, srv.URL, Validation{})
	require.NoError(t, err, "plain http to loopback (sidecars, tests) is allowed")
	require.Equal(t, http.StatusOK, resp.Status)
}
