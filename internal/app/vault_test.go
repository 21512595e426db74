package app

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/alert"
	"github.com/intelgate/intelgate/internal/config"
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

// A one-off resolve (intelgate config validate, the admin CLI) logs in to
// Vault with AppRole and reads the secrets; the token it minted is
// revoked before it returns, so no live token outlives the command.
func TestResolveSecretsRevokesItsVaultLogin(t *testing.T) {
	t.Parallel()
	v := vaulttest.NewServer(t, vaulttest.Options{})
	v.SetAppRole(vaulttest.AppRole{RoleID: "role-validate", SecretID: "secret-id-validate-0001",
		Token: vaulttest.TokenOptions{TTL: time.Hour}})
	v.Put(t, "socialeye", map[string]string{"api_key": "se-live-VALIDATE-key-00000000001"})
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "role-id"), []byte("role-validate\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secret-id"), []byte("secret-id-validate-0001\n"), 0o600))
	_, hash := newGovToken(t)
	path := filepath.Join(dir, "intelgate.yaml")
	require.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf(`
server: {listen: "127.0.0.1:0"}
storage: {driver: sqlite, dsn: state.db}
secrets: {vault: {address: %q, ca_file: %q, auth: {method: approle, role_id: "file:role-id", secret_id: "file:secret-id"}}}
providers:
  socialeye:
    kind: socialeye
    base_url: https://api.socialeye.net
    keys: [{id: prod-1, secret: "%s"}]
clients:
  siem: {token_sha256: %s, providers: [socialeye]}
`, v.URL(), v.CAFile(t), v.Ref("socialeye", "api_key"), hash)), 0o600))
	cfg, err := config.Load(path)
	require.NoError(t, err)

	s, err := ResolveSecrets(t.Context(), cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	require.Empty(t, s.Stale())
	var minted []string
	for _, tok := range v.Tokens() {
		if tok != v.RootToken() {
			minted = append(minted, tok)
		}
	}
	require.Len(t, minted, 1, "one AppRole login")
	require.Equal(t, minted, v.SelfRevoked(), "its token was revoked before ResolveSecrets returned")
}
