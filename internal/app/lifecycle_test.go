package app

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/intelgate/intelgate/internal/redistest"
	"github.com/intelgate/intelgate/internal/sim"
)

// TestShutdownStopsEveryGoroutine: a gateway that has served lookups, once
// Run has returned and Close has been called, leaves no goroutine behind —
// not the last-seen writer, the auth failure log, the key re-checker, the
// upstream connection pool or the shared-state client. It is not parallel
// on purpose: goleak compares against the goroutines alive when it starts,
// and parallel tests of this package only run once the sequential ones
// are done.
func TestShutdownStopsEveryGoroutine(t *testing.T) {
	for _, shared := range []string{"memory", "redis"} {
		t.Run(shared, func(t *testing.T) {
			before := goleak.IgnoreCurrent()
			s := startGovSim(t, sim.Options{})
			dir := t.TempDir()
			c := govCfg{client: "    limits: {rate: 100/s, quotas: {day: 1000}}"}
			if shared == "redis" {
				c.top = redisShared(t, redistest.URL(t), dir)
			}
			token, hash := newGovToken(t)
			app := runGovApp(t, writeGovConfig(t, dir, s, hash, c))
			client := newGovClient(t, token)
			for _, path := range []string{"/v1/resolve?query=alice", "/v1/lookup?indicator=8.8.8.8", "/v1/quota"} {
				resp, err := client.do(app.url, path)
				require.NoError(t, err)
				require.Equal(t, http.StatusOK, resp.status, string(resp.body))
			}
			client.http.CloseIdleConnections() // the test's own client, not the gateway's
			app.stop()
			require.NoError(t, s.Close())
			goleak.VerifyNone(t, before)
		})
	}
}
