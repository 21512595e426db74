package app

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/sim"
)

// TestQuotaShowsConfiguredBurst: /v1/quota reports the burst the gateway
// enforces for a provider (a unit of headroom below the configured one, see
// withHeadroom) and the configured burst beside it, so an operator does not
// mistake the margin for a misread config; a client's limit has none.
func TestQuotaShowsConfiguredBurst(t *testing.T) {
	t.Parallel()
	s := startGovSim(t, sim.Options{})
	token, hash := newGovToken(t)
	cfg := writeGovConfig(t, t.TempDir(), s, hash, govCfg{
		provider: "    limits: {rate: 10/s, burst: 10}\n",
		client:   "    limits: {rate: 5/s, burst: 4}\n",
	})
	a := runGovApp(t, cfg)
	c := newGovClient(t, token)

	r := c.get(t, a.url, "/v1/quota")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Contains(t, string(r.body), `"configured_burst":10`)

	q := c.quota(t, a.url)
	k := govKeyStatus(t, q, "socialeye", "prod-1")
	require.NotNil(t, k.Rate)
	require.Equal(t, 10, k.Rate.ConfiguredBurst)
	require.Equal(t, withHeadroom(govern.Limit{Rate: 10, Period: time.Second, Burst: 10}).Burst, k.Rate.Burst)
	require.Less(t, k.Rate.Burst, k.Rate.ConfiguredBurst)

	require.NotNil(t, q.Client.Rate)
	require.Equal(t, 4, q.Client.Rate.Burst)
	require.Equal(t, 4, q.Client.Rate.ConfiguredBurst)
}
