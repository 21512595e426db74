package app

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/alert"
	"github.com/intelgate/intelgate/internal/sim"
)

// adminDo sends method to url with token and returns the status and body.
func adminDo(t *testing.T, method, url, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

// One source guessing tokens raises the per-source auth_failures alert,
// even with a threshold above the block's: the gateway blocks it at its
// 10th failure (server.auth_failures.max), and the failures refused while
// it is blocked still reach the alert rules.
func TestBruteForceFromOneSourceAlerts(t *testing.T) {
	t.Parallel()
	s := startGovSim(t, sim.Options{})
	_, hash := newGovToken(t)
	gw := runGovApp(t, writeGovConfig(t, t.TempDir(), s, hash, govCfg{top: "alerts: {rules: {auth_failures: {per_source: 20}}}\n"}))
	statuses := map[int]int{}
	for range 30 {
		st, _ := adminDo(t, http.MethodGet, gw.url+"/v1/quota", "igt_notavalidtoken")
		statuses[st]++
	}
	require.Equal(t, map[int]int{http.StatusUnauthorized: 10, http.StatusTooManyRequests: 20}, statuses)
	// The engine takes the failures in as they come; polled for the
	// evaluation, generous for a loaded machine.
	require.Eventually(t, func() bool {
		for _, a := range gw.app.alerts.Live() {
			if a.Rule == alert.RuleAuthFailures && a.Labels["source"] != "" {
				return true
			}
		}
		return false
	}, 30*time.Second, 20*time.Millisecond, "a brute force from one address raised no per-source auth_failures alert")
}

// GET /admin/v1/alerts lists stored alerts and POST …/ack acknowledges
// one, for admins only; an unknown id is a 404 and parameters that are
// not what they should be are refused by name, injected SQL included.
func TestAlertsAdminAPI(t *testing.T) {
	t.Parallel()
	s := startGovSim(t, sim.Options{})
	admin, hash := newGovToken(t)
	out, outHash := newGovToken(t)
	plain, plainHash := newGovToken(t)
	top := "  plain:\n    token_sha256: " + plainHash + "\n    providers: [socialeye]\n" +
		"  outsider:\n    token_sha256: " + outHash + "\n    providers: [socialeye]\n    source_cidrs: [10.0.0.0/8]\n"
	gw := runGovApp(t, writeGovConfig(t, t.TempDir(), s, hash, govCfg{client: "    admin: true\n", top: top}))
	st, _ := adminDo(t, http.MethodGet, gw.url+"/v1/quota", out) // a token used outside its source_cidrs
	require.Equal(t, http.StatusForbidden, st)
	var page alert.Page
	require.Eventually(t, func() bool {
		_, body := adminDo(t, http.MethodGet, gw.url+"/admin/v1/alerts?rule=unexpected_source", admin)
		return json.Unmarshal(body, &page) == nil && len(page.Alerts) == 1
	}, 30*time.Second, 20*time.Millisecond)
	id := page.Alerts[0].ID
	require.Equal(t, "outsider", page.Alerts[0].Labels["client"])

	for _, c := range []struct {
		method, path, token string
		status              int
	}{
		{http.MethodGet, "/admin/v1/alerts", plain, http.StatusForbidden},
		{http.MethodPost, "/admin/v1/alerts/" + id + "/ack", plain, http.StatusForbidden},
		{http.MethodPost, "/admin/v1/alerts/alr_nope/ack", admin, http.StatusNotFound},
		{http.MethodPost, "/admin/v1/alerts/x'%20OR%20'1'='1/ack", admin, http.StatusNotFound},
		{http.MethodGet, "/admin/v1/alerts?rule=x'%20OR%201=1--", admin, http.StatusBadRequest},
		{http.MethodGet, "/admin/v1/alerts?cursor=Zm9vfGFscl8nIE9SIDE9MS0t", admin, http.StatusBadRequest},
		{http.MethodGet, "/admin/v1/alerts?limit=100000", admin, http.StatusBadRequest},
		{http.MethodGet, "/admin/v1/alerts?sort=id", admin, http.StatusBadRequest},
		{http.MethodPost, "/admin/v1/alerts/" + id + "/ack", admin, http.StatusOK},
	} {
		st, body := adminDo(t, c.method, gw.url+c.path, c.token)
		require.Equal(t, c.status, st, "%s %s: %s", c.method, c.path, body)
	}
	_, body := adminDo(t, http.MethodGet, gw.url+"/admin/v1/alerts?state=acknowledged", admin)
	require.NoError(t, json.Unmarshal(body, &page))
	require.Len(t, page.Alerts, 1)
	require.Equal(t, "siem", page.Alerts[0].AckedBy, "acknowledged with the admin client's name (siem is the admin here)")
}
