package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/auth"
	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/logtest"
	"github.com/intelgate/intelgate/internal/sim"
)

// simKey is the upstream key; tests assert it never reaches a client or a log.
const simKey = "se-live-UPSTREAM-SECRET-4b1d9c"

type stack struct {
	url   string
	token string
	sim   *sim.Server
	logs  *logtest.Buffer
}

type stackOptions struct {
	pin         string // override the configured pin
	noCA        bool   // do not configure the simulator's CA: self-signed must fail
	gatewayKey  string // key the gateway sends (default simKey)
	timeout     string
	faults      sim.Faults
	extraConfig string
}

// startStack runs the simulator over real TLS on loopback and a gateway
// built from a real config file with a real SQLite store.
func startStack(t *testing.T, o stackOptions) *stack {
	t.Helper()
	simSrv, err := sim.Start("127.0.0.1:0", true, sim.New(sim.Options{APIKeys: []string{simKey}, Faults: o.faults}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = simSrv.Close() })

	dir := t.TempDir()
	gwKey := o.gatewayKey
	if gwKey == "" {
		gwKey = simKey
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "se.key"), []byte(gwKey+"\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ca.pem"), simSrv.CAPEM, 0o600))
	token, hash, err := auth.NewToken()
	require.NoError(t, err)
	pin := o.pin
	if pin == "" {
		pin = simSrv.Pin
	}
	timeout := o.timeout
	if timeout == "" {
		timeout = "5s"
	}
	caLine := "ca_file: ca.pem, "
	if o.noCA {
		caLine = ""
	}
	yaml := fmt.Sprintf(`
server: {listen: "127.0.0.1:0"}
environment: prod
storage: {driver: sqlite, dsn: state.db}
providers:
  socialeye:
    kind: socialeye
    base_url: %s
    keys: [{id: prod-1, secret: "file:se.key"}]
    tls: {%spins: ["%s"]}
    timeout: %s
    max_response_bytes: 1MiB
clients:
  siem:
    token_sha256: %s
    providers: [socialeye]
    source_cidrs: [127.0.0.0/8]
%s`, simSrv.URL, caLine, pin, timeout, hash, o.extraConfig)
	cfgPath := filepath.Join(dir, "intelgate.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(yaml), 0o600))
	cfg, err := config.Load(cfgPath)
	require.NoError(t, err)

	logs := &logtest.Buffer{}
	a, err := New(context.Background(), cfg, slog.New(slog.NewJSONHandler(logs, nil)))
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, a.Close())
	})
	return &stack{url: "http://" + ln.Addr().String(), token: token, sim: simSrv, logs: logs}
}

func (s *stack) get(t *testing.T, path string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.url+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NotContains(t, string(body), simKey, "the upstream key must never reach a client")
	return resp, body
}

func problemType(t *testing.T, body []byte) (string, string) {
	t.Helper()
	var p struct{ Type, Detail string }
	require.NoError(t, json.Unmarshal(body, &p), string(body))
	return strings.TrimPrefix(p.Type, "https://intelgate.dev/problems/"), p.Detail
}

func TestEndToEndResolveOverPinnedTLS(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	resp, body := s.get(t, "/v1/resolve?query=johndoe")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var obj map[string]any
	require.NoError(t, json.Unmarshal(body, &obj), "the body is a JSON object")

	// Byte-identical to what the simulator answers directly.
	req, _ := http.NewRequest(http.MethodGet, s.sim.URL+"/v1/resolve?query=johndoe&type=auto", nil)
	req.Header.Set("Authorization", "Bearer "+simKey)
	direct, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfigFor(s.sim)}}).Do(req)
	require.NoError(t, err)
	directBody, _ := io.ReadAll(direct.Body)
	direct.Body.Close()
	require.Equal(t, string(directBody), string(body))

	resp, body = s.get(t, "/v1/lookup?indicator=8.8.8.8")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var lr struct {
		Type    string
		Results []struct{ Provider, Status string }
	}
	require.NoError(t, json.Unmarshal(body, &lr))
	require.Equal(t, "ipv4", lr.Type)
	require.Len(t, lr.Results, 1)
	require.Equal(t, "ok", lr.Results[0].Status)
	require.NotContains(t, s.logs.String(), simKey)
}

// TestVendorPythonExampleWorksUnchanged runs SocialEye's own Python example
// against the gateway, changing only base URL and key.
func TestVendorPythonExampleWorksUnchanged(t *testing.T) {
	t.Parallel()
	if err := exec.Command("python3", "-c", "import requests").Run(); err != nil {
		t.Skip("python3 with requests is not installed; skipping the vendor-example check")
	}
	s := startStack(t, stackOptions{})
	script := `
import os, requests
base, key, q = os.environ["BASE"], os.environ["KEY"], "johndoe"
r = requests.get(base + "/v1/resolve", headers={"Authorization": f"Bearer {key}"}, params={"query": q}, timeout=30)
r.raise_for_status()
assert isinstance(r.json(), dict)
print("ok")
`
	cmd := exec.Command("python3", "-c", script)
	cmd.Env = append(os.Environ(), "BASE="+s.url, "KEY="+s.token)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	require.Equal(t, "ok\n", string(out))
}

func TestEndToEndUpstreamFailures(t *testing.T) {
	t.Parallel()
	wrongPin := "sha256/" + strings.Repeat("A", 43) + "="
	cases := []struct {
		name       string
		opts       stackOptions
		status     int
		slug       string
		detailHint string
	}{
		{"pin mismatch", stackOptions{pin: wrongPin}, 502, "upstream-tls", "pin"},
		{"self-signed without CA", stackOptions{noCA: true}, 502, "upstream-tls", "unknown authority"},
		{"malformed json", stackOptions{faults: sim.Faults{MalformedRate: 1}}, 502, "upstream-invalid-response", ""},
		{"non-object json", stackOptions{faults: sim.Faults{NonObjectRate: 1}}, 502, "upstream-invalid-response", ""},
		{"wrong content type", stackOptions{faults: sim.Faults{WrongTypeRate: 1}}, 502, "upstream-invalid-response", ""},
		{"oversized body", stackOptions{faults: sim.Faults{OversizedRate: 1, OversizedBytes: 2 << 20}}, 502, "upstream-invalid-response", ""},
		{"slow upstream", stackOptions{timeout: "300ms", faults: sim.Faults{Latency: 5 * time.Second}}, 504, "upstream-timeout", ""},
		{"upstream 500", stackOptions{faults: sim.Faults{ErrorRate: 1}}, 502, "upstream-error", ""},
		{"connection reset", stackOptions{faults: sim.Faults{ResetRate: 1}}, 502, "upstream-unavailable", ""},
		{"wrong upstream key", stackOptions{gatewayKey: "revoked-key"}, 503, "unavailable", "no usable key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startStack(t, tc.opts)
			resp, body := s.get(t, "/v1/resolve?query=johndoe")
			require.Equal(t, tc.status, resp.StatusCode, string(body))
			require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
			slug, detail := problemType(t, body)
			require.Equal(t, tc.slug, slug, detail)
			if tc.detailHint != "" {
				require.Contains(t, detail, tc.detailHint)
			}
			require.NotContains(t, s.logs.String(), simKey)
			require.NotContains(t, s.logs.String(), "revoked-key")
			if tc.name == "wrong upstream key" {
				require.Contains(t, s.logs.String(), `"event":"upstream_auth_rejected"`)
			}
		})
	}
}
