package app

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/gateway"
	"github.com/intelgate/intelgate/internal/preset"
	"github.com/intelgate/intelgate/internal/preset/presettest"
	"github.com/intelgate/intelgate/internal/sim"
)

// TestVendorCompatibleRoutes replays every preset's golden cases through
// the whole gateway the way the vendor's own clients send them: the
// vendor's path and parameters under /{provider}/, the gateway token where
// the vendor's key goes. For each, the upstream must receive the preset's
// request with the gateway's upstream key — never the token — and the
// client the vendor's validated answer (or the vendor's documented "no
// data" answer, or the gateway's problem). Paths and parameters outside
// the allow-list are 404s and 400s that reach no upstream.
func TestVendorCompatibleRoutes(t *testing.T) {
	t.Parallel()
	v := startCompatVendor(t)
	token, hash := newGovToken(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "vendor.key"), []byte(presettest.Key+"\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "vendor-ca.pem"), v.caPEM, 0o600))
	var b strings.Builder
	names := preset.Names()
	for _, name := range names {
		// Every preset at the one loopback vendor, under a path of its
		// own; limits and quotas lifted so the cases measure the routes,
		// not the vendor's free tier.
		fmt.Fprintf(&b, `
  %s:
    preset: %s
    base_url: %s/%s
    keys: [{id: k1, secret: "file:vendor.key"}]
    tls: {ca_file: vendor-ca.pem, pins: ["%s"]}
    limits: {rate: 100/s, burst: 100, quotas: {day: 0, month: 0}}
    retry: {max_attempts: 1}
    max_tlp: red
    max_pap: red
`, name, name, v.url, name, v.pin)
	}
	cfgPath := filepath.Join(dir, "intelgate.yaml")
	require.NoError(t, os.WriteFile(cfgPath, fmt.Appendf(nil, `
server: {listen: "127.0.0.1:0"}
environment: prod
storage: {driver: sqlite, dsn: state.db}
providers:%s
clients:
  soar:
    token_sha256: %s
    providers: [%s]
    allow_refresh: true
    default_tlp: clear
    default_pap: clear
`, b.String(), hash, strings.Join(names, ", ")), 0o600))
	app := runGovApp(t, cfgPath)
	hc := &http.Client{Timeout: 30 * time.Second}

	send := func(t *testing.T, name string, r presettest.Request) (*http.Response, []byte) {
		t.Helper()
		sub := func(s string) string { return strings.ReplaceAll(s, presettest.Token, token) }
		u := app.url + "/" + name + r.Path
		if len(r.Query) > 0 {
			q := url.Values{}
			for k, val := range r.Query {
				q.Set(k, sub(val))
			}
			u += "?" + q.Encode()
		}
		var body io.Reader
		ctype := ""
		switch {
		case r.Form != nil:
			f := url.Values{}
			for k, val := range r.Form {
				f.Set(k, val)
			}
			body, ctype = strings.NewReader(f.Encode()), "application/x-www-form-urlencoded"
		case r.JSON != nil:
			j, err := json.Marshal(r.JSON)
			require.NoError(t, err)
			body, ctype = bytes.NewReader(j), "application/json"
		}
		method := r.Method
		if method == "" {
			method = http.MethodGet
		}
		req, err := http.NewRequest(method, u, body)
		require.NoError(t, err)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		for k, val := range r.Headers {
			req.Header.Set(k, sub(val))
		}
		// Each case asks past the cache: cases share indicators.
		req.Header.Set("Cache-Control", "no-cache")
		resp, err := hc.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, data
	}

	providers := func() map[string]gateway.ProviderEntry {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, app.url+"/v1/providers", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var pr gateway.ProvidersResponse
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&pr))
		out := map[string]gateway.ProviderEntry{}
		for _, e := range pr.Providers {
			out[e.Name] = e
		}
		return out
	}
	before := providers()
	require.Len(t, before, len(names))
	for _, name := range names {
		e := before[name]
		require.Equal(t, name, e.Preset)
		require.Equal(t, "http", e.Kind)
		require.Equal(t, "/"+name+"/", e.Compat)
		require.NotEmpty(t, e.Types)
		require.Equal(t, "red", e.MaxTLP)
		require.Positive(t, e.Cache.TTLSeconds)
		require.True(t, e.Healthy, "%s: breaker %s, %d usable keys", name, e.Breaker, e.UsableKeys)
		require.Equal(t, 1, e.UsableKeys)
	}

	replayed := 0
	paused := map[string]bool{}
	for _, name := range names {
		g := presettest.Load(t, name)
		// The rate-limited case pauses the provider's key, and an auth
		// failure makes it suspect: those go last, and auth failures are
		// the provider's own tests' (internal/preset).
		var cases []presettest.Case
		var limited []presettest.Case
		for _, c := range g.Cases {
			if c.Compat == nil {
				c.Compat = deriveCompat(c, g.Cases)
			}
			switch {
			case c.Compat == nil || c.Want == "auth_failed":
			case c.Want == "rate_limited":
				limited = append(limited, c)
			default:
				cases = append(cases, c)
			}
		}
		require.NotEmpty(t, cases, "preset %s has compat cases", name)
		for _, c := range append(cases, limited...) {
			t.Run(name+"/"+c.Name, func(t *testing.T) {
				body := presettest.Body(t, name, c.Response.BodyFile)
				v.answer(c.Response, body)
				resp, got := send(t, name, *c.Compat)
				seen := v.requests()
				switch c.Want {
				case "ok":
					require.Equal(t, http.StatusOK, resp.StatusCode, string(got))
					require.JSONEq(t, string(body), string(got), "the vendor's answer, unchanged")
				case "not_found":
					if nf := compatNotFound(t, app, name); nf != nil {
						require.Equal(t, nf.Status, resp.StatusCode, string(got))
						require.JSONEq(t, nf.Body, string(got), "the vendor's documented no-data answer")
					} else {
						require.Equal(t, http.StatusNotFound, resp.StatusCode, string(got))
						require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
					}
				case "rate_limited":
					require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, string(got))
					require.NotEmpty(t, resp.Header.Get("Retry-After"))
					paused[name] = true
				case "invalid":
					require.Equal(t, http.StatusBadGateway, resp.StatusCode, string(got))
				}
				require.NotContains(t, string(got), presettest.Key, "the upstream key never reaches a client")
				require.Len(t, seen, 1, "one upstream call")
				s := seen[0]
				require.Equal(t, "/"+name+c.Request.Path, s.path, "the preset's request, not the client's")
				all := s.uri + " " + fmt.Sprint(s.header) + " " + string(s.body)
				require.NotContains(t, all, token, "the gateway token is never forwarded")
				require.Contains(t, all, presettest.Key, "the upstream key is the gateway's")
				replayed++
			})
		}
	}
	require.Positive(t, replayed)
	// A 429 paused the provider's only key: /v1/providers says it cannot
	// answer now.
	after := providers()
	for name := range paused {
		require.False(t, after[name].Healthy, "%s: its only key is paused", name)
		require.Zero(t, after[name].UsableKeys, name)
	}

	// Outside the allow-list: nothing is proxied.
	v.answer(presettest.Response{Status: 200, Headers: map[string]string{"Content-Type": "application/json"}}, []byte(`{}`))
	for _, name := range names {
		for _, path := range []string{"/", "/admin", "/api/v3/users/me", "/v1/../../v1/quota"} {
			req, err := http.NewRequest(http.MethodGet, app.url+"/"+name+path, nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := hc.Do(req)
			require.NoError(t, err)
			_ = resp.Body.Close()
			require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s%s", name, path)
		}
	}
	require.Empty(t, v.requests(), "no request outside the allow-list reached the vendor")
}

// deriveCompat gives a case without a compat request the one of another
// case of its type, its indicator put in place of the other's (in plain
// and in base64url form, for routes that decode one).
func deriveCompat(c presettest.Case, all []presettest.Case) *presettest.Request {
	for _, o := range all {
		if o.Compat == nil || o.Type != c.Type || o.Indicator == c.Indicator {
			continue
		}
		r := strings.NewReplacer(o.Indicator, c.Indicator,
			base64.RawURLEncoding.EncodeToString([]byte(o.Indicator)), base64.RawURLEncoding.EncodeToString([]byte(c.Indicator)))
		out := *o.Compat
		out.Path = r.Replace(out.Path)
		out.Query = replaceAll(r, out.Query)
		out.Form = replaceAll(r, out.Form)
		if out.JSON != nil {
			j := make(map[string]any, len(out.JSON))
			for k, v := range out.JSON {
				if s, ok := v.(string); ok {
					v = r.Replace(s)
				}
				j[k] = v
			}
			out.JSON = j
		}
		return &out
	}
	for _, o := range all {
		if o.Compat != nil && o.Type == c.Type {
			cp := *o.Compat // the same indicator: the same request
			return &cp
		}
	}
	return nil
}

func replaceAll(r *strings.Replacer, m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = r.Replace(v)
	}
	return out
}

// compatNotFound is the provider's configured vendor no-data answer.
func compatNotFound(t *testing.T, app *govApp, name string) *struct {
	Status int
	Body   string
} {
	t.Helper()
	p := app.app.cfg.Providers[name]
	if p.Compat == nil || p.Compat.NotFound == nil {
		return nil
	}
	return &struct {
		Status int
		Body   string
	}{p.Compat.NotFound.Status, p.Compat.NotFound.Body}
}

// compatVendor is one loopback HTTPS vendor for every preset: it answers
// what the current case says and records what it was sent.
type compatVendor struct {
	url, pin string
	caPEM    []byte

	mu   sync.Mutex
	resp presettest.Response
	body []byte
	got  []compatSeen
}

type compatSeen struct {
	path, uri string
	header    http.Header
	body      []byte
}

func startCompatVendor(t *testing.T) *compatVendor {
	t.Helper()
	cert, certPEM, pin, err := sim.GenerateCert([]string{"127.0.0.1"}, time.Hour)
	require.NoError(t, err)
	v := &compatVendor{pin: pin, caPEM: certPEM}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		v.mu.Lock()
		defer v.mu.Unlock()
		v.got = append(v.got, compatSeen{r.URL.EscapedPath(), r.RequestURI, r.Header.Clone(), body})
		for k, val := range v.resp.Headers {
			w.Header().Set(k, val)
		}
		w.WriteHeader(v.resp.Status)
		_, _ = w.Write(v.body)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	v.url = srv.URL
	return v
}

func (v *compatVendor) answer(r presettest.Response, body []byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.resp, v.body, v.got = r, body, nil
}

func (v *compatVendor) requests() []compatSeen {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]compatSeen(nil), v.got...)
}
