package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/sim"
)

// post POSTs an empty JSON body to base+path with c's token.
func (c *govClient) post(t *testing.T, base, path string) govResp {
	t.Helper()
	r, err := c.postErr(base, path)
	require.NoError(t, err)
	return r
}

// postErr is post for any goroutine.
func (c *govClient) postErr(base, path string) (govResp, error) {
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(""))
	if err != nil {
		return govResp{}, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return govResp{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return govResp{}, err
	}
	return govResp{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// reloadEnv is a gateway with an admin client "ops" and the lookup client
// "siem", served from a config file the test rewrites.
type reloadEnv struct {
	s          *sim.Server
	gw         *govApp
	path, base string
	ops, siem  *govClient
	opsHash    string
}

func newReloadEnv(t *testing.T) *reloadEnv {
	t.Helper()
	s := startGovSim(t, sim.Options{APIKeys: []string{simKey, simKey2}})
	b := fileRotationBackend(t, t.TempDir())
	b.Put(t, "socialeye", map[string]string{"api_key": simKey})
	opsToken, opsHash := newGovToken(t)
	gw, siem, path := rotationGateway(t, s, b, rotationSetup{clients: fmt.Sprintf("  ops: {token_sha256: %s, providers: [socialeye], admin: true}", opsHash)})
	return &reloadEnv{s: s, gw: gw, path: path, base: gw.url, ops: newGovClient(t, opsToken), siem: siem, opsHash: opsHash}
}

// edit rewrites the config file with old replaced by new.
func (e *reloadEnv) edit(t *testing.T, old, new string) {
	t.Helper()
	b, err := os.ReadFile(e.path)
	require.NoError(t, err)
	require.Contains(t, string(b), old)
	require.NoError(t, os.WriteFile(e.path, []byte(strings.Replace(string(b), old, new, 1)), 0o600))
}

// POST /admin/v1/reload applies a good config whole (a new client can call
// at once), refuses a broken one or one that needs a restart whole (the
// running config answers as before), and is refused while another reload
// runs. Only admins may call it.
func TestReloadAdminAPI(t *testing.T) {
	t.Parallel()
	e := newReloadEnv(t)
	govRequireProblem(t, e.siem.post(t, e.base, "/admin/v1/reload"), http.StatusForbidden, "admin-required")

	// A new client, added to the file.
	newToken, newHash := newGovToken(t)
	e.edit(t, "clients:\n", fmt.Sprintf("clients:\n  soar: {token_sha256: %s, providers: [socialeye]}\n", newHash))
	newClient := newGovClient(t, newToken)
	govRequireProblem(t, newClient.get(t, e.base, "/v1/resolve?query=before"), http.StatusUnauthorized, "unauthenticated")
	r := e.ops.post(t, e.base, "/admin/v1/reload")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var rep ReloadReport
	require.NoError(t, json.Unmarshal(r.body, &rep))
	require.True(t, rep.Config)
	require.True(t, rep.Clients)
	require.Equal(t, http.StatusOK, newClient.get(t, e.base, "/v1/resolve?query=after").status)

	// A broken file: refused, naming the field; the running config stays.
	good, err := os.ReadFile(e.path)
	require.NoError(t, err)
	e.edit(t, "timeout: 5s", "timeout: five seconds")
	r = e.ops.post(t, e.base, "/admin/v1/reload")
	govRequireProblem(t, r, http.StatusConflict, "reload-refused")
	require.Contains(t, string(r.body), "providers.socialeye.timeout")
	require.Equal(t, http.StatusOK, newClient.get(t, e.base, "/v1/resolve?query=still").status)

	// A change only a restart applies: refused whole, naming the section;
	// the client added alongside it is not let in.
	require.NoError(t, os.WriteFile(e.path, good, 0o600))
	lateToken, lateHash := newGovToken(t)
	e.edit(t, "timeout: 5s", "timeout: 7s")
	e.edit(t, "clients:\n", fmt.Sprintf("clients:\n  late: {token_sha256: %s, providers: [socialeye]}\n", lateHash))
	r = e.ops.post(t, e.base, "/admin/v1/reload")
	govRequireProblem(t, r, http.StatusConflict, "reload-refused")
	require.Contains(t, string(r.body), "providers.socialeye")
	require.Contains(t, string(r.body), "restart")
	govRequireProblem(t, newGovClient(t, lateToken).get(t, e.base, "/v1/resolve?query=late"), http.StatusUnauthorized, "unauthenticated")

	// One reload at a time: a second one waits for the first, then runs.
	require.NoError(t, os.WriteFile(e.path, good, 0o600))
	e.gw.app.reload.sem <- struct{}{}
	answered := make(chan govResp, 1)
	go func() {
		resp, err := e.ops.postErr(e.base, "/admin/v1/reload")
		if err != nil {
			resp = govResp{status: -1, body: []byte(err.Error())}
		}
		answered <- resp
	}()
	select {
	case r := <-answered:
		t.Fatalf("the reload did not wait for the running one: %d %s", r.status, r.body)
	case <-time.After(50 * time.Millisecond): // a wait that would have ended by now if it were not blocked
	}
	<-e.gw.app.reload.sem
	r = <-answered
	require.Equal(t, http.StatusOK, r.status, string(r.body))

	refused := govLogRecords(t, e.gw.logs.String(), "msg", "configuration reload refused; still running the configuration loaded before")
	require.Len(t, refused, 2)
}

// A client disabled at run time is answered 401 at once, its attempts are
// audited by name; a reload that leaves its entry as it was keeps it out,
// enable lets it back in, and a reload that changes its entry ends the
// disable and says so. An admin cannot disable itself, and an unknown
// client is a 404.
func TestDisableClientUntilEnabledOrChanged(t *testing.T) {
	t.Parallel()
	e := newReloadEnv(t)
	require.Equal(t, http.StatusOK, e.siem.get(t, e.base, "/v1/resolve?query=before").status)

	govRequireProblem(t, e.ops.post(t, e.base, "/admin/v1/clients/nobody/disable"), http.StatusNotFound, "not-found")
	govRequireProblem(t, e.ops.post(t, e.base, "/admin/v1/clients/ops/disable"), http.StatusBadRequest, "invalid-parameter")
	govRequireProblem(t, e.siem.post(t, e.base, "/admin/v1/clients/ops/disable"), http.StatusForbidden, "admin-required")
	r := e.ops.post(t, e.base, "/admin/v1/clients/siem/disable")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	govRequireProblem(t, e.siem.get(t, e.base, "/v1/resolve?query=disabled"), http.StatusUnauthorized, "unauthenticated")
	require.Len(t, govLogRecords(t, e.gw.logs.String(), "event", "client_disabled"), 1)

	r = e.ops.post(t, e.base, "/admin/v1/reload")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	govRequireProblem(t, e.siem.get(t, e.base, "/v1/resolve?query=still"), http.StatusUnauthorized, "unauthenticated")

	r = e.ops.post(t, e.base, "/admin/v1/clients/siem/enable")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Equal(t, http.StatusOK, e.siem.get(t, e.base, "/v1/resolve?query=enabled").status)

	require.Equal(t, http.StatusOK, e.ops.post(t, e.base, "/admin/v1/clients/siem/disable").status)
	e.edit(t, "source_cidrs: [127.0.0.0/8]}", "source_cidrs: [127.0.0.0/8], default_tlp: green}")
	r = e.ops.post(t, e.base, "/admin/v1/reload")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var rep ReloadReport
	require.NoError(t, json.Unmarshal(r.body, &rep))
	require.Equal(t, []string{"siem"}, rep.Enabled, "a changed entry ends the disable, and the report says so")
	require.Equal(t, http.StatusOK, e.siem.get(t, e.base, "/v1/resolve?query=changed").status)
}

// An operator's revocation takes the key out at once, for every request:
// the upstream is not called with it again, and the re-check does not put
// it back.
func TestOperatorRevokesAKey(t *testing.T) {
	t.Parallel()
	e := newReloadEnv(t)
	require.Equal(t, http.StatusOK, e.siem.get(t, e.base, "/v1/resolve?query=before").status)
	govRequireProblem(t, e.ops.post(t, e.base, "/admin/v1/keys/socialeye/nope/revoke"), http.StatusNotFound, "not-found")
	govRequireProblem(t, e.siem.post(t, e.base, "/admin/v1/keys/socialeye/prod-1/revoke"), http.StatusForbidden, "admin-required")

	r := e.ops.post(t, e.base, "/admin/v1/keys/socialeye/prod-1/revoke")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	calls := e.s.Sim.Stats().Requests
	r = e.siem.get(t, e.base, "/v1/resolve?query=after")
	require.Equal(t, http.StatusServiceUnavailable, r.status, string(r.body))
	require.Equal(t, calls, e.s.Sim.Stats().Requests, "the upstream is not called with a revoked key")
	revoked := govLogRecords(t, e.gw.logs.String(), "event", "upstream_key_revoked_by_operator")
	require.Len(t, revoked, 1)
	require.Equal(t, "ops", revoked[0]["by"])

	keys := e.ops.get(t, e.base, "/admin/v1/keys")
	require.Equal(t, http.StatusOK, keys.status, string(keys.body))
	require.NotContains(t, string(keys.body), simKey)
	var listed struct{ Keys []KeyInfo }
	require.NoError(t, json.Unmarshal(keys.body, &listed))
	require.Len(t, listed.Keys, 1)
	require.NotEmpty(t, listed.Keys[0].Fingerprint)
	require.True(t, listed.Keys[0].Revoked)
	require.Equal(t, "operator", listed.Keys[0].RevokedBy)
}

// A key's age is shown in /v1/quota and the admin key list (never its
// secret); rotated_at is metadata a reload applies.
func TestKeyAgeShownAndReloadable(t *testing.T) {
	t.Parallel()
	e := newReloadEnv(t)
	q := e.siem.quota(t, e.base)
	require.Nil(t, q.Providers[0].Keys[0].Age, "a file: secret with no rotated_at has no known age")

	e.edit(t, "keys: [{id: prod-1, ", "keys: [{id: prod-1, rotated_at: 2026-09-01, ")
	r := e.ops.post(t, e.base, "/admin/v1/reload")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	q = e.siem.quota(t, e.base)
	age := q.Providers[0].Keys[0].Age
	require.NotNil(t, age)
	require.Equal(t, "rotated_at", age.Source)
	require.Equal(t, "2026-09-01", age.ChangedAt.Format("2006-01-02"))
	require.Equal(t, "2026-11-30", age.RotateBy.Format("2006-01-02"), "rotation.period defaults to 90 days")
	require.Positive(t, age.Days)
}
