package preset_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/preset"
	"github.com/intelgate/intelgate/internal/preset/presettest"
	"github.com/intelgate/intelgate/internal/provider"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/upstream"
)

// Golden tests: every preset is built exactly as a user's config builds
// it, over real TLS on loopback, and each recorded case — the vendor's
// documented answers, found, not found and rate-limited — goes through
// the provider and the response validation (status, content type, JSON
// shape, the preset's schema, its not-found rules). The request the
// gateway sends is compared with what the vendor documents.

const testKey = presettest.Key

type (
	goldenCase     = presettest.Case
	goldenResponse = presettest.Response
)

// seen is one request as the test server received it.
type seen struct {
	method, path string
	query        url.Values
	header       http.Header
	body         []byte
}

// vendor is a loopback TLS server answering with whatever the current
// case says, recording what it was sent.
type vendor struct {
	srv    *httptest.Server
	caFile string

	mu   sync.Mutex
	resp goldenResponse
	body []byte
	got  []seen
}

func newVendor(t *testing.T) *vendor {
	v := &vendor{}
	v.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		v.mu.Lock()
		defer v.mu.Unlock()
		v.got = append(v.got, seen{r.Method, r.URL.EscapedPath(), r.URL.Query(), r.Header.Clone(), body})
		for k, val := range v.resp.Headers {
			w.Header().Set(k, val)
		}
		w.WriteHeader(v.resp.Status)
		_, _ = w.Write(v.body)
	}))
	v.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	v.srv.StartTLS()
	t.Cleanup(v.srv.Close)
	v.caFile = filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(v.caFile,
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: v.srv.Certificate().Raw}), 0o600))
	return v
}

func (v *vendor) answer(r goldenResponse, body []byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.resp, v.body, v.got = r, body, nil
}

func (v *vendor) requests() []seen {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]seen(nil), v.got...)
}

// buildPreset loads a config naming the preset, its base_url and CA
// overridden to point at v, and builds the provider with the real factory.
func buildPreset(t *testing.T, name, tier string, v *vendor) provider.Provider {
	t.Helper()
	doc := fmt.Sprintf(`
providers:
  p:
    preset: %s
    tier: %s
    base_url: %s
    tls: {ca_file: %s}
    keys: [{id: k1, secret: env:INTELGATE_PRESET_TEST_KEY}]
clients:
  c: {token_sha256: %s, providers: [p]}
`, name, tier, v.srv.URL, v.caFile, strings.Repeat("ab", 32))
	cfg, err := config.Parse([]byte(doc), t.TempDir())
	require.NoError(t, err, "preset %s (tier %s) must load", name, tier)
	p, client, err := provider.New("p", cfg.Providers["p"])
	require.NoError(t, err, "preset %s must build", name)
	t.Cleanup(client.CloseIdleConnections)
	return p
}

func loadGolden(t *testing.T, name string) presettest.File { return presettest.Load(t, name) }

func readBody(t *testing.T, name, file string) []byte { return presettest.Body(t, name, file) }

func TestPresetsGolden(t *testing.T) {
	t.Parallel()
	names := preset.Names()
	require.NotEmpty(t, names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := loadGolden(t, name)
			v := newVendor(t)
			p := buildPreset(t, name, preset.Free, v)
			wants := map[string]bool{}
			for _, c := range g.Cases {
				t.Run(c.Name, func(t *testing.T) {
					wants[c.Want] = true
					runCase(t, name, p, v, c)
				})
			}
			for _, w := range []string{"ok", "not_found", "rate_limited"} {
				require.True(t, wants[w], "preset %s needs a %s case", name, w)
			}
			for _, c := range g.Invalid {
				t.Run("invalid/"+c.Name, func(t *testing.T) {
					status := c.Status
					if status == 0 {
						status = http.StatusOK
					}
					v.answer(goldenResponse{Status: status, Headers: map[string]string{"Content-Type": "application/json"}},
						readBody(t, name, c.BodyFile))
					typ := g.Cases[0].Type
					ind, err := indicator.Parse(g.Cases[0].Indicator, typ)
					require.NoError(t, err)
					_, err = p.Lookup(context.Background(), provider.Request{Indicator: ind}, secret.NewValue(testKey))
					var ue *upstream.Error
					require.ErrorAs(t, err, &ue, "a malformed answer is refused")
					require.Contains(t, []upstream.Kind{upstream.KindSchema, upstream.KindMalformed}, ue.Kind)
				})
			}
		})
	}
}

func runCase(t *testing.T, name string, p provider.Provider, v *vendor, c goldenCase) {
	body := readBody(t, name, c.Response.BodyFile)
	if c.Response.BodyFile != "" && (c.Response.Headers["Content-Type"] == "" || strings.Contains(c.Response.Headers["Content-Type"], "json")) {
		require.True(t, json.Valid(body), "%s is valid JSON", c.Response.BodyFile)
	}
	v.answer(c.Response, body)
	ind, err := indicator.Parse(c.Indicator, c.Type)
	require.NoError(t, err, "the case's indicator parses as its type")
	require.Equal(t, c.Indicator, ind.Value, "cases give the normalised indicator")
	require.True(t, p.Supports(c.Type), "the preset supports %s", c.Type)

	res, err := p.Lookup(context.Background(), provider.Request{Indicator: ind}, secret.NewValue(testKey))
	var ue *upstream.Error
	switch c.Want {
	case "ok":
		require.NoError(t, err)
		require.False(t, res.NotFound)
		require.JSONEq(t, string(body), string(res.Data), "the validated answer is the vendor's, unchanged")
	case "not_found":
		require.NoError(t, err)
		require.True(t, res.NotFound, "the vendor's no-data answer reads as not found")
	case "rate_limited":
		require.ErrorAs(t, err, &ue)
		require.Equal(t, upstream.KindRateLimited, ue.Kind)
		if ra := c.Response.Headers["Retry-After"]; ra != "" {
			require.Positive(t, ue.RetryAfter, "Retry-After %q is honoured", ra)
		}
	case "auth_failed":
		require.ErrorAs(t, err, &ue)
		require.Equal(t, upstream.KindAuth, ue.Kind)
	case "invalid":
		require.ErrorAs(t, err, &ue)
		require.Contains(t, []upstream.Kind{upstream.KindSchema, upstream.KindMalformed}, ue.Kind)
	default:
		t.Fatalf("unknown want %q", c.Want)
	}
	if err != nil {
		require.NotContains(t, err.Error(), testKey, "no error carries the key")
	}

	got := v.requests()
	require.Len(t, got, 1, "one upstream call per lookup")
	checkRequest(t, c, got[0])
}

func checkRequest(t *testing.T, c goldenCase, s seen) {
	want := c.Request
	method := want.Method
	if method == "" {
		method = http.MethodGet
	}
	require.Equal(t, method, s.method)
	require.Equal(t, want.Path, s.path)
	if want.Query != nil || method == http.MethodGet {
		got := map[string]string{}
		for k, vs := range s.query {
			got[k] = strings.Join(vs, ",")
		}
		require.Equal(t, nonNil(want.Query), got, "query parameters")
	}
	for k, val := range want.Headers {
		require.Equal(t, val, s.header.Get(k), "header %s", k)
	}
	// The key goes only where the preset puts it: never in the URL unless
	// the vendor takes it there, never in a body.
	if !strings.Contains(fmt.Sprint(want.Query), testKey) {
		require.NotContains(t, s.path+"?"+s.query.Encode(), testKey)
	}
	switch {
	case want.Form != nil:
		require.Equal(t, "application/x-www-form-urlencoded", s.header.Get("Content-Type"))
		form, err := url.ParseQuery(string(s.body))
		require.NoError(t, err)
		got := map[string]string{}
		for k, vs := range form {
			got[k] = strings.Join(vs, ",")
		}
		require.Equal(t, want.Form, got, "form fields")
	case want.JSON != nil:
		require.Equal(t, "application/json", s.header.Get("Content-Type"))
		wantJSON, err := json.Marshal(want.JSON)
		require.NoError(t, err)
		require.JSONEq(t, string(wantJSON), string(s.body), "JSON body")
	default:
		require.Empty(t, s.body, "a GET has no body")
	}
	if len(s.body) > 0 && !strings.Contains(fmt.Sprint(want.Form, want.JSON), testKey) {
		require.NotContains(t, string(s.body), testKey)
	}
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// TestPresetsBothTiersBuild: the paid tier of every preset loads and
// builds too, and differs from the free one somewhere (or a tier would be
// a label with nothing behind it).
func TestPresetsBothTiersBuild(t *testing.T) {
	t.Parallel()
	for _, name := range preset.Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v := newVendor(t)
			buildPreset(t, name, preset.Paid, v)
			load := func(tier string) *config.Provider {
				cfg, err := config.Parse([]byte(fmt.Sprintf(`
providers:
  p: {preset: %s, tier: %s, keys: [{id: k1, secret: env:X}]}
clients:
  c: {token_sha256: %s, providers: [p]}
`, name, tier, strings.Repeat("ab", 32))), t.TempDir())
				require.NoError(t, err)
				return cfg.Providers["p"]
			}
			free, paid := load(preset.Free), load(preset.Paid)
			require.NotEqual(t, free.Limits, paid.Limits, "the tiers' limits differ")
		})
	}
}
