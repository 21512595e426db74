package app

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/leak"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/sim"
)

// dump is everything a client receives: status, headers and body.
func dump(r govResp) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n", r.status)
	_ = r.header.Write(&b)
	b.Write(r.body)
	return b.Bytes()
}

// TestReflectedKeyNeverReachesAClient runs a hostile upstream that echoes
// the Authorization header it receives — in a response header, and in the
// body spelled raw, percent-encoded in a URL, as JSON \u escapes, base64,
// base64url and hex. In none of them may the key reach the client, on the
// drop-in resolve or on the lookup fan-out; each is a 502
// upstream-invalid-response, and a security event naming the key by id.
func TestReflectedKeyNeverReachesAClient(t *testing.T) {
	t.Parallel()
	key := leak.New(secret.NewValue(simKey))
	for _, mode := range sim.ReflectModes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			s, gw, c, _ := e2e(t, sim.Options{Faults: sim.Faults{Reflect: mode}}, nil)

			// The control: the upstream really does reflect the key in
			// this spelling, so the gateway has something to catch.
			direct := directResolve(t, s, "johndoe")
			require.True(t, key.Contains(direct), "the simulator must reflect the key (%s)", mode)

			r := c.get(t, gw.url, "/v1/resolve?query=johndoe")
			govRequireProblem(t, r, http.StatusBadGateway, "upstream-invalid-response")
			require.False(t, key.Contains(dump(r)), "resolve leaked the key:\n%s", dump(r))
			require.Contains(t, string(r.body), "credential material")

			r = c.get(t, gw.url, "/v1/lookup?indicator=johndoe")
			require.Equal(t, http.StatusOK, r.status, string(r.body))
			require.False(t, key.Contains(dump(r)), "lookup leaked the key:\n%s", dump(r))
			require.Contains(t, string(r.body), `"status":"error"`)
			require.Contains(t, string(r.body), "upstream-invalid-response")

			logs := gw.logs.String()
			events := govLogRecords(t, logs, "event", "upstream_credential_reflected")
			require.NotEmpty(t, events, logs)
			require.Equal(t, "prod-1", events[0]["key_id"])
			require.Equal(t, "socialeye", events[0]["provider"])
			require.False(t, key.Contains([]byte(logs)), "the log holds the key")
		})
	}
}

// directResolve asks the simulator itself, with the key, and returns its
// headers and body.
func directResolve(t *testing.T, s *sim.Server, query string) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL+"/v1/resolve?query="+url.QueryEscape(query), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+simKey)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CertPool, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var b bytes.Buffer
	_ = resp.Header.Write(&b)
	b.Write(body)
	return b.Bytes()
}

// TestClientChosenForbiddenDoesNotRevoke: a client looks up six indicators
// the vendor's plan does not cover (403 with a valid key), on a provider
// configured to suspect keys on 403. Each lookup gets that provider's
// error, never a pool-wide 503; the auth check runs once and accepts the
// key; the next ordinary lookup is served by the same key.
func TestClientChosenForbiddenDoesNotRevoke(t *testing.T) {
	t.Parallel()
	s := startGovSim(t, sim.Options{})
	token, hash := newGovToken(t)
	cfg := writeGovConfig(t, t.TempDir(), s, hash, govCfg{
		keys:     []govKey{{"prod-1", simKey}, {"prod-2", simKey + "-backup"}},
		provider: "    revoke_on: [401, 403]\n",
	})
	gw := runGovApp(t, cfg)
	c := newGovClient(t, token)

	for i := range 6 {
		r := c.get(t, gw.url, fmt.Sprintf("/v1/resolve?query=%s-%d", sim.ForbiddenPrefix, i))
		govRequireProblem(t, r, http.StatusBadGateway, "upstream-auth")
		require.Contains(t, string(r.body), "403 Forbidden")
	}
	q := c.quota(t, gw.url)
	require.False(t, govKeyStatus(t, q, "socialeye", "prod-1").Revoked, "a client's choice of indicator must not revoke a key")
	require.False(t, govKeyStatus(t, q, "socialeye", "prod-2").Revoked)

	r := c.get(t, gw.url, "/v1/resolve?query=johndoe")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	st := s.Sim.Stats()
	require.Equal(t, 1, st.ByQuery["example.com"], "one auth check per key per minute, whatever the number of refusals")
	require.Equal(t, map[int]int{http.StatusForbidden: 6, http.StatusOK: 2}, st.ByStatus,
		"six refusals, one accepted auth check, one answer: no request used the backup key (it would be 401)")

	logs := gw.logs.String()
	require.Len(t, govLogRecords(t, logs, "event", "upstream_key_suspect"), 6)
	cleared := govLogRecords(t, logs, "event", "upstream_key_cleared")
	require.Len(t, cleared, 1)
	require.Equal(t, "siem", cleared[0]["client"], "the event names the client that triggered it")
	require.Empty(t, govLogRecords(t, logs, "event", "upstream_key_revoked"))
}
