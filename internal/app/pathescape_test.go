package app

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/client"
	"github.com/intelgate/intelgate/internal/gateway"
	"github.com/intelgate/intelgate/internal/sim"
)

// TestLookupRefusesPathEscapeForThatProviderOnly runs the whole gateway
// (config file, pipeline, governor, real TLS) with two providers: socialeye
// (indicator in the query) and "users", a kind: http provider with the
// indicator in its path. A traversal indicator — "../admin" parses as a
// username — is refused by "users" alone: its result is a 400
// invalid-parameter naming the parameter and the reason, nothing reaches its
// upstream and its quota is untouched, while socialeye answers.
func TestLookupRefusesPathEscapeForThatProviderOnly(t *testing.T) {
	t.Parallel()
	skipNearMidnightUTC(t)
	s := startGovSim(t, sim.Options{})
	users := startPathRecorder(t)
	token, hash := newGovToken(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prod-1.key"), []byte(simKey+"\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "users-1.key"), []byte("users-api-key\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sim-ca.pem"), s.CAPEM, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "users-ca.pem"), users.caPEM, 0o600))
	cfgPath := filepath.Join(dir, "intelgate.yaml")
	require.NoError(t, os.WriteFile(cfgPath, fmt.Appendf(nil, `
server: {listen: "127.0.0.1:0"}
environment: prod
storage: {driver: sqlite, dsn: state.db}
providers:
  socialeye:
    kind: socialeye
    base_url: %s
    keys: [{id: prod-1, secret: "file:prod-1.key"}]
    tls: {ca_file: sim-ca.pem, pins: ["%s"]}
    timeout: 5s
  users:
    kind: http
    base_url: %s/api
    keys: [{id: users-1, secret: "file:users-1.key"}]
    tls: {ca_file: users-ca.pem, pins: ["%s"]}
    timeout: 5s
    types: [username]
    limits: {rate: 100/s, quotas: {day: 5}}
    request:
      path: /v1/users/{indicator}
clients:
  siem:
    token_sha256: %s
    providers: [socialeye, users]
    source_cidrs: [127.0.0.0/8]
`, s.URL, s.Pin, users.url, users.pin, hash), 0o600))
	app := runGovApp(t, cfgPath)
	c := newGovClient(t, token)

	lookup := func(value, typ string) map[string]gateway.LookupResult {
		t.Helper()
		r := c.get(t, app.url, "/v1/lookup?indicator="+url.QueryEscape(value)+"&type="+typ)
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		var resp gateway.LookupResponse
		require.NoError(t, json.Unmarshal(r.body, &resp), string(r.body))
		require.Equal(t, "username", string(resp.Type))
		var sdk client.LookupResponse // the SDK reads every field, error.parameter included
		strictDecode(t, r.body, &sdk)
		out := map[string]gateway.LookupResult{}
		for _, res := range resp.Results {
			out[res.Provider] = res
		}
		require.Len(t, out, 2, string(r.body))
		return out
	}
	usersDayUsed := func() int64 {
		t.Helper()
		for _, p := range c.quota(t, app.url).Providers {
			if p.Provider == "users" {
				require.Len(t, p.Keys, 1)
				require.NotNil(t, p.Keys[0].Day)
				return p.Keys[0].Day.Used
			}
		}
		t.Fatal("provider users missing from /v1/quota")
		return 0
	}

	// Detection (type=auto) reads all of these but ".." as usernames; ".."
	// is refused by detection itself (digits and dots are an ipv4 attempt),
	// so it is asked for as a username explicitly.
	for _, tt := range []struct{ value, typ, reason string }{
		{"../admin", "auto", "contains '/'"},
		{"..%2Fadmin", "auto", "contains '%'"},
		{"..;", "auto", "contains ';'"},
		{"\uff0e\uff0e\uff0fadmin", "auto", "contains '/', a path separator once Unicode-normalised (NFKC)"},
		{"..", "username", "is a dot segment"},
	} {
		res := lookup(tt.value, tt.typ)
		se, refused := res["socialeye"], res["users"]
		require.Equal(t, "ok", se.Status, "%s: the other provider still answers", tt.value)
		require.Equal(t, "error", refused.Status, tt.value)
		require.NotNil(t, refused.Error, tt.value)
		require.Equal(t, http.StatusBadRequest, refused.Error.Status, tt.value)
		require.Equal(t, "https://intelgate.dev/problems/invalid-parameter", refused.Error.Type, tt.value)
		require.Equal(t, "indicator", refused.Error.Parameter, tt.value)
		require.Contains(t, refused.Error.Detail, "indicator: provider users cannot place this value in its request path: it "+tt.reason)
		if len(tt.value) > 3 { // shorter ones occur in the fixed reasons themselves
			require.NotContains(t, refused.Error.Detail, tt.value, "the detail never echoes the indicator")
		}
		require.Empty(t, users.paths(), "%s: nothing reached the path provider's upstream", tt.value)
	}
	require.Zero(t, usersDayUsed(), "refused lookups spend no quota")

	// The same provider still serves an ordinary username, in its segment,
	// and that is what spends quota.
	res := lookup("jane.doe", "auto")
	require.Equal(t, "ok", res["users"].Status, "%+v", res["users"].Error)
	require.Equal(t, []string{"/api/v1/users/jane.doe"}, users.paths())
	require.Equal(t, int64(1), usersDayUsed())
}

// pathRecorder is an HTTPS upstream that records every request URI and
// answers a JSON object.
type pathRecorder struct {
	url, pin string
	caPEM    []byte
	mu       sync.Mutex
	uris     []string
}

func startPathRecorder(t *testing.T) *pathRecorder {
	t.Helper()
	cert, certPEM, pin, err := sim.GenerateCert([]string{"127.0.0.1"}, time.Hour)
	require.NoError(t, err)
	r := &pathRecorder{pin: pin, caPEM: certPEM}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.uris = append(r.uris, req.RequestURI)
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"found":true}`)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

func (r *pathRecorder) paths() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.uris...)
}
