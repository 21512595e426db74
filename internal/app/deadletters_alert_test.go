package app

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/alert"
	"github.com/intelgate/intelgate/internal/gateway"
	"github.com/intelgate/intelgate/internal/sim"
)

// The dead_letters rule reads the job queue, which opens after the alert
// engine: bulk items whose attempts run out raise it (critical at
// critical_total), its summary pointing at the dead-letter queue.
func TestDeadLettersAlertFromTheJobQueue(t *testing.T) {
	t.Parallel()
	s := startGovSim(t, sim.Options{})
	token, hash := newGovToken(t)
	cfg := writeGovConfig(t, t.TempDir(), s, hash, govCfg{
		top: "jobs: {max_attempts: 1, retry: {base: 10ms, max: 20ms}, poll_interval: 50ms}\n" +
			"alerts: {evaluate_every: 1s, rules: {dead_letters: {critical_total: 2}}}\n",
		provider: "    retry: {max_attempts: 1}\n",
	})
	gw := runGovApp(t, cfg)
	c := newGovClient(t, token)

	s.Sim.SetFaults(sim.Faults{ErrorRate: 1})
	r := c.postBody(t, gw.url, "/v1/jobs", "application/json", `{"indicators":["dl-a.example.org","dl-b.example.org"],"type":"domain"}`)
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))
	var job gateway.JobResponse
	require.NoError(t, json.Unmarshal(r.body, &job))
	require.Equal(t, 2, waitJob(t, c, gw.url, job.ID).Counts.Dead)

	var got alert.Alert
	require.True(t, govPoll(60*time.Second, 20*time.Millisecond, func() bool {
		for _, a := range gw.app.alerts.Live() {
			if a.Rule == alert.RuleDeadLetters && a.Severity == alert.Critical {
				got = a
				return true
			}
		}
		return false
	}), "two dead items raised no critical dead_letters alert")
	require.Empty(t, got.Labels)
	require.True(t, strings.HasPrefix(got.Summary, "the dead-letter queue holds 2 bulk items"), got.Summary)
	require.Contains(t, got.Summary, "GET /admin/v1/dlq")
}
