package provider

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/nginxtest"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/sim"
)

// TestPathEscapesThroughRealNginx runs the provider over real TLS against a
// real nginx configured the common, dangerous way — proxy_pass with a URI
// part, which decodes the path, resolves dot segments and re-encodes it —
// in front of an upstream that records every request URI it receives.
//
// The control sub-test proves the setup is vulnerable to what the old
// escaping sent (url.PathEscape: "../admin" as "..%2Fadmin"), so this test
// fails if the provider's check is removed. The rest prove every traversal
// spelling is refused before anything is sent, and that ordinary indicators
// arrive in their own segment.
func TestPathEscapesThroughRealNginx(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	n := startTLSNginx(t, rec.addr)

	t.Run("control: nginx lets an escaped ../ out of its segment", func(t *testing.T) {
		// What the provider used to send (url.PathEscape of the value),
		// straight to nginx, and where nginx delivered it.
		for _, c := range []struct{ value, sent, arrived string }{
			{"../admin", "/api/ip/..%2Fadmin", "/api/admin"},
			{"..", "/api/ip/..", "/api/"},
			{"a/b", "/api/ip/a%2Fb", "/api/ip/a/b"},
			{"..;/admin", "/api/ip/..%3B%2Fadmin", "/api/ip/..;/admin"}, // "..;" reaches a Java backend
		} {
			rec.reset()
			target := "/api/ip/" + url.PathEscape(c.value)
			require.Equal(t, c.sent, target)
			require.Equal(t, http.StatusOK, n.getRaw(t, target), "nginx forwarded %s", target)
			require.Equal(t, []string{c.arrived}, rec.paths(),
				"this nginx lets %s out of /api/ip/<segment>, so the refusals below are what protects the key", target)
			require.False(t, inIPSegment(c.arrived), c.arrived)
		}
	})

	p := n.provider(t)
	lookup := func(value string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := p.Lookup(ctx, Request{Indicator: indicator.Indicator{Value: value, Type: indicator.Username}}, secret.NewValue(testKey))
		return err
	}

	t.Run("traversal spellings are refused and nothing arrives", func(t *testing.T) {
		for _, tt := range traversalSpellings {
			rec.reset()
			err := lookup(tt.value)
			for _, got := range rec.paths() {
				require.True(t, inIPSegment(got), "%s: the request escaped to %q with the key attached", tt.name, got)
			}
			require.Empty(t, rec.paths(), "%s: nothing may reach the upstream", tt.name)
			require.ErrorIs(t, err, ErrUnsafeIndicator, tt.name)
		}
	})

	t.Run("ordinary indicators arrive in their own segment", func(t *testing.T) {
		for _, value := range []string{"203.0.113.7", "2001:db8::1", "evil.example", "bob@example.org",
			"d41d8cd98f00b204e9800998ecf8427e", "jane.doe", "a..b", ".hidden", "jörg", "+442079460958"} {
			rec.reset()
			require.NoError(t, lookup(value), value)
			got := rec.paths()
			require.Len(t, got, 1, value)
			require.True(t, inIPSegment(got[0]), "raw %q", got[0])
			path, err := url.PathUnescape(got[0])
			require.NoError(t, err, got[0])
			require.Equal(t, "/api/ip/"+value, path, "raw %q", got[0])
		}
	})
}

// inIPSegment reports whether a request URI the recorder saw is
// /api/ip/<one segment>, however that segment is spelled.
func inIPSegment(uri string) bool {
	path, _, _ := strings.Cut(uri, "?")
	seg, ok := strings.CutPrefix(path, "/api/ip/")
	if !ok {
		return false
	}
	dec, err := url.PathUnescape(seg)
	return err == nil && dec != "" && dec != "." && dec != ".." && !strings.ContainsAny(seg, "/\\") && !strings.ContainsAny(dec, "/\\")
}

// recorder is the plain-HTTP upstream behind nginx. It records the raw
// request URI of everything it receives and answers a JSON object.
type recorder struct {
	addr string
	mu   sync.Mutex
	uris []string
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	r := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.uris = append(r.uris, req.RequestURI)
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(srv.Close)
	r.addr = srv.Listener.Addr().String()
	return r
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.uris = nil
}

func (r *recorder) paths() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.uris...)
}

// tlsNginx is a running nginx serving TLS on loopback.
type tlsNginx struct {
	addr   string
	caFile string
	pin    string
	pool   *x509.CertPool
}

// The location is the URI form of proxy_pass: nginx matches the decoded,
// normalised path and sends it on re-encoded, so "..%2F" is resolved.
const tlsNginxConf = `
worker_processes 1;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 64; }
http {
  access_log %[1]s/access.log;
  client_body_temp_path %[1]s/tmp/body;
  proxy_temp_path %[1]s/tmp/proxy;
  fastcgi_temp_path %[1]s/tmp/fastcgi;
  uwsgi_temp_path %[1]s/tmp/uwsgi;
  scgi_temp_path %[1]s/tmp/scgi;
  server {
    listen %[2]s ssl;
    ssl_certificate %[1]s/cert.pem;
    ssl_certificate_key %[1]s/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location /api/ {
      proxy_pass http://%[3]s/api/;
    }
  }
}
`

// startTLSNginx runs nginx in the foreground with a temp prefix and a
// certificate made for this test. Without nginx the test is skipped, unless
// INTELGATE_TEST_REQUIRE_NGINX=1 (CI), where that is a failure.
func startTLSNginx(t *testing.T, upstreamAddr string) *tlsNginx {
	t.Helper()
	cert, certPEM, pin, err := sim.GenerateCert([]string{"127.0.0.1"}, time.Hour)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	require.NoError(t, err)
	n := nginxtest.Start(t, map[string][]byte{
		"cert.pem": certPEM,
		"key.pem":  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, func(dir, addr string) string { return fmt.Sprintf(tlsNginxConf, dir, addr, upstreamAddr) })
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(certPEM))
	return &tlsNginx{addr: n.Addr, caFile: filepath.Join(n.Dir, "cert.pem"), pin: pin, pool: pool}
}

// provider is a kind: http provider with the indicator in its path, going
// through the real transport (TLS verified against the CA, pinned).
func (n *tlsNginx) provider(t *testing.T) Provider {
	t.Helper()
	p, _, err := New("pathprov", &config.Provider{
		Kind:    KindHTTP,
		BaseURL: "https://" + n.addr + "/api",
		Types:   []indicator.Type{indicator.Username},
		TLS:     config.ProviderTLS{CAFile: n.caFile, Pins: []string{n.pin}},
		Timeout: config.Duration(20 * time.Second),
		Request: &config.HTTPRequest{Path: "/ip/{indicator}"},
	})
	require.NoError(t, err)
	return p
}

// getRaw sends GET with exactly the escaped path given, straight to nginx.
func (n *tlsNginx) getRaw(t *testing.T, escapedPath string) int {
	t.Helper()
	unescaped, err := url.PathUnescape(escapedPath)
	require.NoError(t, err)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: n.pool, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	req, err := http.NewRequest(http.MethodGet, "https://"+n.addr+"/", nil)
	require.NoError(t, err)
	req.URL.Path, req.URL.RawPath = unescaped, escapedPath
	require.Equal(t, escapedPath, req.URL.EscapedPath())
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}
