package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/audit"
	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/gateway"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/logtest"
	"github.com/intelgate/intelgate/internal/pgtest"
	"github.com/intelgate/intelgate/internal/sim"
)

// openAuditOf opens the audit log of the deployment cfgPath describes, as
// intelgate audit verify|export do.
func openAuditOf(t *testing.T, cfgPath string) *AuditAdmin {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	require.NoError(t, err)
	log, _ := logtest.JSONLogger()
	a, err := OpenAuditAdmin(t.Context(), cfg, log)
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func exportAll(t *testing.T, a *AuditAdmin) []audit.Record {
	t.Helper()
	var buf bytes.Buffer
	_, err := a.Export(t.Context(), &buf, audit.Filter{})
	require.NoError(t, err)
	var out []audit.Record
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var r audit.Record
		require.NoError(t, json.Unmarshal([]byte(line), &r))
		out = append(out, r)
	}
	return out
}

func ofKind(recs []audit.Record, k audit.Kind) []audit.Record {
	var out []audit.Record
	for _, r := range recs {
		if r.Kind == k {
			out = append(out, r)
		}
	}
	return out
}

// A key revoked by its refused auth check stays out of rotation after the
// gateway restarts on the same database: the restarted gateway never
// sends it, and the revocation and the restart's records are audited.
func TestRevokedKeyStaysRevokedAcrossRestart(t *testing.T) {
	t.Parallel()
	const wrongKey = "se-live-REVOKED-7f00aa"
	s := startGovSim(t, sim.Options{})
	token, hash := newGovToken(t)
	dir := t.TempDir()
	cfg := writeGovConfig(t, dir, s, hash, govCfg{keys: []govKey{{"prod-1", wrongKey}, {"prod-2", simKey}}})
	c := newGovClient(t, token)

	gw := runGovApp(t, cfg)
	r := c.get(t, gw.url, govResolvePath("restart", 0))
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.True(t, govKeyStatus(t, c.quota(t, gw.url), "socialeye", "prod-1").Revoked)
	refused := s.Sim.Stats().ByStatus[http.StatusUnauthorized]
	require.Equal(t, 2, refused, "the lookup and the auth check")
	gw.stop()

	gw = runGovApp(t, cfg)
	require.True(t, govKeyStatus(t, c.quota(t, gw.url), "socialeye", "prod-1").Revoked, "the revocation survived the restart")
	for i := range 3 {
		r := c.get(t, gw.url, govResolvePath("restart", 1+i))
		require.Equal(t, http.StatusOK, r.status, string(r.body))
	}
	require.Equal(t, refused, s.Sim.Stats().ByStatus[http.StatusUnauthorized], "the restarted gateway never sent the revoked key")
	gw.stop()

	a := openAuditOf(t, cfg)
	rep, err := a.Verify(t.Context(), audit.VerifyOptions{})
	require.NoError(t, err)
	require.Nil(t, rep.Problem)
	recs := exportAll(t, a)
	revoked := ofKind(recs, audit.KindKeyRevoked)
	require.Len(t, revoked, 1)
	require.Equal(t, "prod-1", revoked[0].KeyID)
	require.Len(t, ofKind(recs, audit.KindLookup), 4)
	require.NotContains(t, fmt.Sprint(recs), wrongKey)
}

// Every lookup leaves its records: who, from where, which protected
// indicator, which key, the cache state, the upstream status; refused
// tokens leave their class and source. Nothing in the database files, in
// any usual encoding, is the indicator, a token or an upstream key.
func TestAuditRecordsLookupsAndTheDatabaseHoldsNoIndicator(t *testing.T) {
	t.Parallel()
	const ind = "exfil-target-7731.example.org"
	s := startGovSim(t, sim.Options{})
	token, hash := newGovToken(t)
	dir := t.TempDir()
	cfg := writeGovConfig(t, dir, s, hash, govCfg{cache: "{ttl: 1h}"})
	c := newGovClient(t, token)
	gw := runGovApp(t, cfg)

	for range 2 { // a miss, then a hit
		r := c.get(t, gw.url, "/v1/lookup?indicator="+ind+"&type=domain")
		require.Equal(t, http.StatusOK, r.status, string(r.body))
	}
	r := c.get(t, gw.url, "/v1/resolve?query="+ind)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	// Typed otherwise, defanged: the same indicator to the audit log.
	r = c.get(t, gw.url, "/v1/resolve?query="+strings.ReplaceAll(strings.ToUpper(ind), ".", "[.]"))
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	// Refused by the gateway before the lookup service saw it.
	require.Equal(t, http.StatusBadRequest, c.get(t, gw.url, "/v1/lookup?indicator=a.example&indicator=b.example").status)
	const badToken = "igt_not-a-real-token-0123456789abcdef"
	bad := newGovClient(t, badToken)
	require.Equal(t, http.StatusUnauthorized, bad.get(t, gw.url, "/v1/lookup?indicator=x.example").status)
	gw.stop() // flushes the audit queue

	for _, f := range []string{"state.db", "state.db-wal", "state.db-shm"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(t, err)
		for _, secret := range []string{ind, badToken, simKey, token} {
			for _, enc := range []string{secret, strings.ToUpper(secret), base64.StdEncoding.EncodeToString([]byte(secret)),
				base64.RawURLEncoding.EncodeToString([]byte(secret)), hex.EncodeToString([]byte(secret))} {
				require.False(t, bytes.Contains(b, []byte(enc)), "%s holds %q", f, enc)
			}
		}
	}

	a := openAuditOf(t, cfg)
	rep, err := a.Verify(t.Context(), audit.VerifyOptions{})
	require.NoError(t, err)
	require.Nil(t, rep.Problem)
	recs := exportAll(t, a)
	lookups := ofKind(recs, audit.KindLookup)
	require.Len(t, lookups, 5)
	refused := lookups[4]
	require.Equal(t, "refused", refused.Outcome)
	require.Equal(t, "invalid-parameter", refused.Problem)
	require.Equal(t, "siem", refused.Client)
	lookups = lookups[:4]
	for _, l := range lookups {
		require.Equal(t, "siem", l.Client)
		require.Equal(t, "prod", l.Environment)
		require.Equal(t, "127.0.0.1", l.Source)
		require.Equal(t, "ok", l.Outcome)
		require.Equal(t, string(indicator.Domain), l.IndicatorType)
		require.Equal(t, "amber", l.TLP)
		require.NotEmpty(t, l.RequestID)
		require.Empty(t, l.IndicatorSealed)
	}
	// The same indicator has the same HMAC, whatever the operation: a
	// holder of the key can find every lookup of it.
	require.Equal(t, lookups[0].IndicatorHMAC, lookups[1].IndicatorHMAC)
	require.Equal(t, lookups[0].IndicatorHMAC, lookups[2].IndicatorHMAC)
	require.Equal(t, lookups[0].IndicatorHMAC, lookups[3].IndicatorHMAC, "a resolve is audited under the normalised indicator")
	results := ofKind(recs, audit.KindProviderResult)
	require.Len(t, results, 4)
	require.Equal(t, []string{"miss", "hit", "miss", "miss"}, []string{results[0].Cache, results[1].Cache, results[2].Cache, results[3].Cache})
	require.Equal(t, "prod-1", results[0].KeyID)
	require.Equal(t, http.StatusOK, results[0].UpstreamStatus)
	require.Equal(t, 1, results[0].Units)
	require.Zero(t, results[1].Units, "a hit spends nothing")
	fails := ofKind(recs, audit.KindAuthFailure)
	require.Len(t, fails, 1)
	require.Equal(t, audit.AuthUnknownToken, fails[0].Reason)
	require.Equal(t, "127.0.0.1", fails[0].Source)
	require.GreaterOrEqual(t, len(ofKind(recs, audit.KindCheckpoint)), 1, "shutdown writes a checkpoint")
}

// With audit.indicators: plaintext the indicator is kept sealed, and an
// admin reads it back through GET /admin/v1/audit, which pages with a
// cursor, refuses bad parameters by name and non-admin clients.
func TestAdminAuditEndpoint(t *testing.T) {
	t.Parallel()
	s := startGovSim(t, sim.Options{})
	token, hash := newGovToken(t)
	adminYAML, adminToken := rcAdmin(t)
	dir := t.TempDir()
	cfg := writeGovConfig(t, dir, s, hash, govCfg{top: adminYAML + "audit: {indicators: plaintext}\n"})
	c, admin := newGovClient(t, token), newGovClient(t, adminToken)
	gw := runGovApp(t, cfg)
	for i := range 3 {
		r := c.get(t, gw.url, fmt.Sprintf("/v1/lookup?indicator=host%d.example.org&type=domain", i))
		require.Equal(t, http.StatusOK, r.status, string(r.body))
	}

	govRequireProblem(t, c.get(t, gw.url, "/admin/v1/audit"), http.StatusForbidden, "admin-required")
	for _, q := range []string{"since=yesterday", "cursor=-4", "limit=0", "limit=5000", "clinet=siem", "client=a&client=b"} {
		govRequireProblem(t, admin.get(t, gw.url, "/admin/v1/audit?"+q), http.StatusBadRequest, "invalid-parameter")
	}
	var seen []string
	var cursor string
	require.True(t, govPoll(10e9, 10e6, func() bool { // the writer flushes within a fraction of a second
		seen, cursor = nil, ""
		for {
			r := admin.get(t, gw.url, "/admin/v1/audit?client=siem&limit=2&cursor="+cursor)
			if r.status != http.StatusOK {
				return false
			}
			var page gateway.AuditPage
			if json.Unmarshal(r.body, &page) != nil {
				return false
			}
			for _, rec := range page.Records {
				if rec.Kind == audit.KindLookup {
					seen = append(seen, rec.Indicator)
				}
			}
			if page.NextCursor == "" {
				return len(seen) == 3
			}
			cursor = page.NextCursor
		}
	}))
	require.Equal(t, []string{"host0.example.org", "host1.example.org", "host2.example.org"}, seen)
	gw.stop()

	// On disk the indicators are sealed; the read itself is audited.
	b, err := os.ReadFile(filepath.Join(dir, "state.db"))
	require.NoError(t, err)
	wal, _ := os.ReadFile(filepath.Join(dir, "state.db-wal"))
	require.NotContains(t, string(b)+string(wal), "host0.example.org")
	recs := exportAll(t, openAuditOf(t, cfg))
	reads := 0
	for _, r := range ofKind(recs, audit.KindAdmin) {
		if r.Action == "audit_read" {
			reads++
			require.NotEmpty(t, r.By)
		}
	}
	require.Positive(t, reads)
}

// Three gateways on one PostgreSQL database, serving at once, append to
// one audit chain, which verifies and holds every lookup once.
func TestThreeReplicasShareOneAuditChain(t *testing.T) {
	t.Parallel()
	schema := pgtest.New(t)
	s := startGovSim(t, sim.Options{})
	token, hash := newGovToken(t)
	const replicas, perReplica = 3, 20
	var dirs []string
	for range replicas {
		dirs = append(dirs, t.TempDir())
	}
	rcWriteKey(t, dirs...)
	var gws []*govApp
	var cfgs []string
	for _, d := range dirs {
		require.NoError(t, os.WriteFile(filepath.Join(d, "pg.dsn"), []byte(schema.DSN+"\n"), 0o600))
		cfg := writeGovConfig(t, d, s, hash, govCfg{storage: "{driver: postgres, dsn: \"file:pg.dsn\"}", top: rcEncryption,
			cache: "{ttl: 1h}"})
		cfgs = append(cfgs, cfg)
		gws = append(gws, runGovApp(t, cfg))
	}
	c := newGovClient(t, token)
	var wg sync.WaitGroup
	errs := make(chan error, replicas*perReplica)
	for i, gw := range gws {
		for j := range perReplica {
			wg.Go(func() {
				r, err := c.do(gw.url, fmt.Sprintf("/v1/lookup?indicator=r%d-%d.example.org&type=domain", i, j))
				if err == nil && r.status != http.StatusOK {
					err = fmt.Errorf("status %d: %s", r.status, r.body)
				}
				errs <- err
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for _, gw := range gws {
		gw.stop()
	}
	a := openAuditOf(t, cfgs[0])
	rep, err := a.Verify(context.Background(), audit.VerifyOptions{})
	require.NoError(t, err)
	require.Nil(t, rep.Problem)
	recs := exportAll(t, a)
	require.Len(t, ofKind(recs, audit.KindLookup), replicas*perReplica)
	require.Len(t, ofKind(recs, audit.KindProviderResult), replicas*perReplica)
	require.GreaterOrEqual(t, len(ofKind(recs, audit.KindCheckpoint)), replicas, "each replica checkpoints on shutdown")
	require.EqualValues(t, len(recs), rep.Records)
}

// Rotating the data-at-rest key (the new key first, the old one still
// listed) renames every key fingerprint; a revocation in force is carried
// to the new name, so the refused key stays out of rotation.
func TestRevocationSurvivesDataKeyRotation(t *testing.T) {
	t.Parallel()
	const wrongKey = "se-live-REVOKED-7f00aa"
	s := startGovSim(t, sim.Options{})
	token, hash := newGovToken(t)
	dir := t.TempDir()
	rcWriteKey(t, dir)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "k2.key"), []byte("a second data-at-rest key of 32+ bytes\n"), 0o600))
	keys := []govKey{{"prod-1", wrongKey}, {"prod-2", simKey}}
	c := newGovClient(t, token)

	gw := runGovApp(t, writeGovConfig(t, dir, s, hash, govCfg{keys: keys, top: rcEncryption}))
	require.Equal(t, http.StatusOK, c.get(t, gw.url, govResolvePath("rotate", 0)).status)
	refused := s.Sim.Stats().ByStatus[http.StatusUnauthorized]
	gw.stop()

	rotated := "encryption: {keys: [{id: k2, secret: \"file:k2.key\"}, {id: k1, secret: \"file:cache.key\"}]}\n"
	gw = runGovApp(t, writeGovConfig(t, dir, s, hash, govCfg{keys: keys, top: rotated}))
	require.True(t, govKeyStatus(t, c.quota(t, gw.url), "socialeye", "prod-1").Revoked, "still revoked under the new key's name")
	require.Equal(t, http.StatusOK, c.get(t, gw.url, govResolvePath("rotate", 1)).status)
	require.Equal(t, refused, s.Sim.Stats().ByStatus[http.StatusUnauthorized], "the revoked key was not sent again")
	gw.stop()
	recs := exportAll(t, openAuditOf(t, filepath.Join(dir, "intelgate.yaml")))
	require.Empty(t, ofKind(recs, audit.KindKeyRotated), "a data-at-rest key rotation is not an upstream key rotation")
}
