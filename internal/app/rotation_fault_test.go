package app

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/redistest"
	"github.com/intelgate/intelgate/internal/sim"
)

// faultKey writes v as the socialeye key of b (a file backend).
func faultKey(t *testing.T, b rotationBackend, v string) {
	t.Helper()
	b.Put(t, "socialeye", map[string]string{"api_key": v})
}

func putFile(t *testing.T, p, v string) {
	t.Helper()
	require.NoError(t, os.WriteFile(p+".tmp", []byte(v+"\n"), 0o600))
	require.NoError(t, os.Rename(p+".tmp", p))
}

const (
	faultOld = "se-live-FAULT-OLD-key-000000000001"
	faultNew = "se-live-FAULT-NEW-key-000000000002"
)

// One bad write into a secret store (a data-at-rest key too short) does
// not stop the refresh: the field keeps its last good value and is
// reported stale, the other keys' rotations apply, and a running overlap
// still ends on time — dropping the previous secret reads no source.
func TestBadSecretValueDoesNotWedgeTheRefresh(t *testing.T) {
	t.Parallel()
	s := startGovSim(t, sim.Options{APIKeys: []string{faultOld}})
	dir := t.TempDir()
	b := fileRotationBackend(t, dir)
	faultKey(t, b, faultOld)
	enc := filepath.Join(dir, "enc.key")
	putFile(t, enc, strings.Repeat("k", 40))
	clk := clocktest.New(time.Now().UTC())
	top := fmt.Sprintf("rotation: {overlap: 1m}\nencryption: {keys: [{id: k1, secret: \"file:%s\"}]}", enc)
	gw, client, _ := rotationGateway(t, s, b, rotationSetup{top: top, clock: clk})
	ctx := context.Background()

	faultKey(t, b, faultNew) // the vendor does not know it yet
	putFile(t, enc, "short") // and a bad write of the data-at-rest key
	rep, err := gw.app.RefreshSecrets(ctx, "test")
	require.NoError(t, err, "one unusable value is a stale field, not a failed refresh")
	require.Equal(t, []string{"socialeye/prod-1"}, rep.Rotated, "the other rotation applies")
	require.Equal(t, []string{"encryption.keys[0].secret"}, rep.Stale)
	require.Equal(t, http.StatusOK, client.get(t, gw.url, "/v1/resolve?query=in-overlap").status)

	clk.Advance(2 * time.Minute)
	gw.app.expireOverlaps(ctx)
	require.True(t, gw.app.calls.gov.Keys("socialeye")[0].Previous.IsZero(), "the overlap ended")
	require.NotEqual(t, http.StatusOK, client.get(t, gw.url, "/v1/resolve?query=after-overlap").status,
		"the previous secret is not sent after rotation.overlap")
	require.Zero(t, gw.app.nextOverlapEnd(), "nothing left for the timer to wait for")
}

// The usual answer to a leaked key: revoke it, then rotate it. The
// revoked secret is never the overlap's fallback, even while the vendor
// still accepts it and refuses the new one.
func TestRevokedSecretIsNoOverlapFallback(t *testing.T) {
	t.Parallel()
	s := startGovSim(t, sim.Options{APIKeys: []string{faultOld}}) // the leaked key still works at the vendor
	dir := t.TempDir()
	b := fileRotationBackend(t, dir)
	faultKey(t, b, faultOld)
	opsToken, opsHash := newGovToken(t)
	gw, client, _ := rotationGateway(t, s, b, rotationSetup{
		clients: fmt.Sprintf("  ops: {token_sha256: %s, providers: [socialeye], admin: true}", opsHash)})
	ops := newGovClient(t, opsToken)
	require.Equal(t, http.StatusOK, client.get(t, gw.url, "/v1/resolve?query=before").status)
	require.Equal(t, http.StatusOK, ops.post(t, gw.url, "/admin/v1/keys/socialeye/prod-1/revoke").status)

	faultKey(t, b, faultNew)
	_, err := gw.app.RefreshSecrets(context.Background(), "test")
	require.NoError(t, err)
	calls := s.Sim.Stats().Requests
	require.NotEqual(t, http.StatusOK, client.get(t, gw.url, "/v1/resolve?query=after-rotation").status)
	require.Equal(t, calls+2, s.Sim.Stats().Requests, "the lookup and the auth check, both with the new secret; the revoked one is not tried")
	require.True(t, gw.app.calls.gov.Keys("socialeye")[0].Previous.IsZero())
}

// A start-up secret (a data-at-rest key) that changes at its source is
// not silently taken: a refresh keeps the running value and reports it
// unapplied, a reload is refused as needing a restart.
func TestStartupSecretChangeIsReported(t *testing.T) {
	t.Parallel()
	s := startGovSim(t, sim.Options{APIKeys: []string{faultOld}})
	dir := t.TempDir()
	b := fileRotationBackend(t, dir)
	faultKey(t, b, faultOld)
	enc := filepath.Join(dir, "enc.key")
	putFile(t, enc, strings.Repeat("a", 40))
	gw, _, _ := rotationGateway(t, s, b, rotationSetup{top: fmt.Sprintf("encryption: {keys: [{id: k1, secret: \"file:%s\"}]}", enc)})

	putFile(t, enc, strings.Repeat("b", 40))
	rep, err := gw.app.RefreshSecrets(context.Background(), "test")
	require.NoError(t, err)
	require.Equal(t, []string{"encryption.keys[0].secret"}, rep.Unapplied)
	v, ok := gw.app.live.Load().secrets.EncryptionKey("k1")
	require.True(t, ok)
	require.Equal(t, strings.Repeat("a", 40), v.Reveal(), "the running value stays")
	require.Len(t, govLogRecords(t, gw.logs.String(), "msg",
		"a secret changed at its source that only a restart applies; the running value stays in use"), 1)

	_, err = gw.app.Reload(context.Background(), "test")
	require.ErrorIs(t, err, ErrRestartRequired)
	require.Contains(t, err.Error(), "encryption.keys[0].secret")
	require.NotContains(t, err.Error(), strings.Repeat("b", 40))
}

// A client disabled on one replica is refused by every replica (within
// the second the replicas take to copy the shared disables).
func TestDisableHoldsOnEveryReplica(t *testing.T) {
	t.Parallel()
	c := startRCCluster(t, redistest.URL(t), 2, sim.Options{})
	r := rcPost(t, c.admin, c.gws[0].url+"/admin/v1/clients/siem/disable", "{}")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Equal(t, http.StatusUnauthorized, c.siem.get(t, c.gws[0].url, rcResolve(rcUnique("d0-"))).status)
	// The other replica copies the disable within a second; generous
	// for a loaded machine, it ends as soon as the copy is made.
	require.Eventually(t, func() bool {
		return c.siem.get(t, c.gws[1].url, rcResolve(rcUnique("d1-"))).status == http.StatusUnauthorized
	}, 30*time.Second, 50*time.Millisecond)
	r = rcPost(t, c.admin, c.gws[1].url+"/admin/v1/clients/siem/enable", "{}")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Eventually(t, func() bool {
		return c.siem.get(t, c.gws[0].url, rcResolve(rcUnique("e0-"))).status == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond)
}
