package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/alert"
	"github.com/intelgate/intelgate/internal/secret/vault/vaulttest"
	"github.com/intelgate/intelgate/internal/sim"
)

// vaultBackend is a loopback Vault (KV v2) the gateway reads with a token
// from a file, as an operator would configure it.
func vaultBackend(t *testing.T, token func(*vaulttest.Server) string) rotationBackend {
	v := vaulttest.NewServer(t, vaulttest.Options{})
	tokenFile := filepath.Join(t.TempDir(), "vault.token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(token(v)+"\n"), 0o600))
	return rotationBackend{Backend: v, top: fmt.Sprintf(
		"secrets: {vault: {address: %q, ca_file: %q, auth: {method: token, token: \"file:%s\"}}}", v.URL(), v.CAFile(t), tokenFile)}
}

// A key rotated in a server that speaks the documented Vault KV v2 HTTP
// API is picked up without a restart while lookups run, with no failure.
func TestVaultKeyRotationUnderLoad(t *testing.T) {
	t.Parallel()
	testRotationUnderLoad(t, func(t *testing.T) rotationBackend {
		return vaultBackend(t, func(v *vaulttest.Server) string {
			return v.IssueToken(vaulttest.TokenOptions{TTL: time.Hour})
		})
	})
}

// A Vault token that cannot be renewed: the gateway keeps serving on the
// last good secrets, alerts, and once the token has expired /readyz says
// 503 (a key rotated in Vault could no longer be picked up).
func TestVaultTokenThatCannotBeRenewed(t *testing.T) {
	t.Parallel()
	const key = "se-live-VAULT-EXPIRING-key-0001aa"
	s := startGovSim(t, sim.Options{APIKeys: []string{key}})
	b := vaultBackend(t, func(v *vaulttest.Server) string {
		// Vault counts TTLs in whole seconds; the source's renewal
		// watcher runs on the wall clock.
		return v.IssueToken(vaulttest.TokenOptions{TTL: 3 * time.Second, NotRenewable: true})
	})
	b.Put(t, "socialeye", map[string]string{"api_key": key})
	gw, client, _ := rotationGateway(t, s, b, rotationSetup{})
	require.Equal(t, http.StatusOK, client.get(t, gw.url, "/v1/resolve?query=before-expiry").status)

	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	// Generous for a loaded machine: it ends as soon as the token is seen
	// expired (3s after issue).
	require.Eventually(t, func() bool {
		r := client.get(t, gw.url, "/readyz")
		return r.status == http.StatusServiceUnavailable && json.Unmarshal(r.body, &ready) == nil
	}, 60*time.Second, 20*time.Millisecond)
	require.Equal(t, "unavailable", ready.Checks["vault"])
	require.Equal(t, http.StatusOK, client.get(t, gw.url, "/v1/resolve?query=after-expiry").status,
		"the last good key keeps serving")
	require.NotEmpty(t, govLogRecords(t, gw.logs.String(), "msg", "Vault token problem; the last good secrets stay in use"))
	require.Eventually(t, func() bool {
		page, err := gw.app.alerts.List(t.Context(), alertFilter("secret_source"))
		return err == nil && len(page.Alerts) > 0
	}, 60*time.Second, 20*time.Millisecond, "the secret_source alert is stored")
	require.NotContains(t, gw.logs.String(), key)
}

func alertFilter(rule string) alert.Filter { return alert.Filter{Rule: rule} }
