package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/sim"
)

// simKey is the upstream key; tests assert it never reaches a client or a log.
const simKey = "se-live-UPSTREAM-SECRET-4b1d9c"

// e2eConfig is the end-to-end tests' config: the harness default with a
// smaller response cap, so the oversized-body fault need not be large.
func e2eConfig() govCfg { return govCfg{provider: "    max_response_bytes: 1MiB\n"} }

// e2e runs the simulator with o and one gateway from a config c built for
// it (nil: e2eConfig), and returns them with a client holding the token.
func e2e(t *testing.T, o sim.Options, c func(*sim.Server) govCfg) (*sim.Server, *govApp, *govClient, string) {
	t.Helper()
	s := startGovSim(t, o)
	token, hash := newGovToken(t)
	cfg := e2eConfig()
	if c != nil {
		cfg = c(s)
	}
	gw := runGovApp(t, writeGovConfig(t, t.TempDir(), s, hash, cfg))
	return s, gw, newGovClient(t, token), token
}

func problemType(t *testing.T, body []byte) (string, string) {
	t.Helper()
	var p struct{ Type, Detail string }
	require.NoError(t, json.Unmarshal(body, &p), string(body))
	return strings.TrimPrefix(p.Type, "https://intelgate.dev/problems/"), p.Detail
}

func TestEndToEndResolveOverPinnedTLS(t *testing.T) {
	t.Parallel()
	s, gw, c, _ := e2e(t, sim.Options{}, nil)
	r := c.get(t, gw.url, "/v1/resolve?query=johndoe")
	body := r.body
	require.Equal(t, http.StatusOK, r.status, string(body))
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	var obj map[string]any
	require.NoError(t, json.Unmarshal(body, &obj), "the body is a JSON object")

	// Byte-identical to what the simulator answers directly.
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/v1/resolve?query=johndoe&type=auto", nil)
	req.Header.Set("Authorization", "Bearer "+simKey)
	direct, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfigFor(s)}}).Do(req)
	require.NoError(t, err)
	directBody, _ := io.ReadAll(direct.Body)
	direct.Body.Close()
	require.Equal(t, string(directBody), string(body))

	r = c.get(t, gw.url, "/v1/lookup?indicator=8.8.8.8")
	body = r.body
	require.Equal(t, http.StatusOK, r.status, string(body))
	var lr struct {
		Type    string
		Results []struct{ Provider, Status string }
	}
	require.NoError(t, json.Unmarshal(body, &lr))
	require.Equal(t, "ipv4", lr.Type)
	require.Len(t, lr.Results, 1)
	require.Equal(t, "ok", lr.Results[0].Status)
	require.NotContains(t, gw.logs.String(), simKey)
}

// TestVendorPythonExampleWorksUnchanged runs SocialEye's own Python example
// against the gateway, changing only base URL and key.
func TestVendorPythonExampleWorksUnchanged(t *testing.T) {
	t.Parallel()
	if err := exec.Command("python3", "-c", "import requests").Run(); err != nil {
		t.Skip("python3 with requests is not installed; skipping the vendor-example check")
	}
	_, gw, _, token := e2e(t, sim.Options{}, nil)
	script := `
import os, requests
base, key, q = os.environ["BASE"], os.environ["KEY"], "johndoe"
r = requests.get(base + "/v1/resolve", headers={"Authorization": f"Bearer {key}"}, params={"query": q}, timeout=30)
r.raise_for_status()
assert isinstance(r.json(), dict)
print("ok")
`
	cmd := exec.Command("python3", "-c", script)
	cmd.Env = append(os.Environ(), "BASE="+gw.url, "KEY="+token)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	require.Equal(t, "ok\n", string(out))
}

func TestEndToEndUpstreamFailures(t *testing.T) {
	t.Parallel()
	wrongPin := "sha256/" + strings.Repeat("A", 43) + "="
	fault := func(f sim.Faults) sim.Options { return sim.Options{Faults: f} }
	with := func(edit func(c *govCfg, s *sim.Server)) func(*sim.Server) govCfg {
		return func(s *sim.Server) govCfg {
			c := e2eConfig()
			edit(&c, s)
			return c
		}
	}
	cases := []struct {
		name       string
		sim        sim.Options
		cfg        func(*sim.Server) govCfg
		status     int
		slug       string
		detailHint string
	}{
		{"pin mismatch", sim.Options{}, with(func(c *govCfg, _ *sim.Server) {
			c.tls = fmt.Sprintf(`{ca_file: ca.pem, pins: ["%s"]}`, wrongPin)
		}), 502, "upstream-tls", "pin"},
		{"self-signed without CA", sim.Options{}, with(func(c *govCfg, s *sim.Server) {
			c.tls = fmt.Sprintf(`{pins: ["%s"]}`, s.Pin)
		}), 502, "upstream-tls", "unknown authority"},
		{"malformed json", fault(sim.Faults{MalformedRate: 1}), nil, 502, "upstream-invalid-response", ""},
		{"non-object json", fault(sim.Faults{NonObjectRate: 1}), nil, 502, "upstream-invalid-response", ""},
		{"wrong content type", fault(sim.Faults{WrongTypeRate: 1}), nil, 502, "upstream-invalid-response", ""},
		{"oversized body", fault(sim.Faults{OversizedRate: 1, OversizedBytes: 2 << 20}), nil, 502, "upstream-invalid-response", ""},
		{"slow upstream", fault(sim.Faults{Latency: 5 * time.Second}), with(func(c *govCfg, _ *sim.Server) {
			c.timeout = "300ms"
		}), 504, "upstream-timeout", ""},
		{"upstream 500", fault(sim.Faults{ErrorRate: 1}), nil, 502, "upstream-error", ""},
		{"connection reset", fault(sim.Faults{ResetRate: 1}), nil, 502, "upstream-unavailable", ""},
		{"wrong upstream key", sim.Options{}, with(func(c *govCfg, _ *sim.Server) {
			c.keys = []govKey{{"prod-1", "revoked-key"}}
		}), 503, "unavailable", "no usable key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, gw, c, _ := e2e(t, tc.sim, tc.cfg)
			r := c.get(t, gw.url, "/v1/resolve?query=johndoe")
			require.Equal(t, tc.status, r.status, string(r.body))
			require.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
			slug, detail := problemType(t, r.body)
			require.Equal(t, tc.slug, slug, detail)
			if tc.detailHint != "" {
				require.Contains(t, detail, tc.detailHint)
			}
			require.NotContains(t, gw.logs.String(), simKey)
			require.NotContains(t, gw.logs.String(), "revoked-key")
			if tc.name == "wrong upstream key" {
				require.Contains(t, gw.logs.String(), `"event":"upstream_key_revoked"`)
			}
		})
	}
}
