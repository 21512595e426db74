package app

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/observe"
	"github.com/intelgate/intelgate/internal/observe/observetest"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/sim"
)

// The second upstream account's key; the simulator accepts both.
const simKey2 = "se-live-UPSTREAM-SECRET-2nd-7e0a51"

// TestKeySwapUnderLoad: a provider's key pool is replaced again and again
// while clients look up distinct indicators without pause, and not one
// lookup fails: in-flight calls finish on their lease, the next ones use
// the new pool, and the reflection check knows every secret either pool
// held.
func TestKeySwapUnderLoad(t *testing.T) {
	t.Parallel()
	s := startGovSim(t, sim.Options{APIKeys: []string{simKey, simKey2}})
	dir := t.TempDir()
	token, hash := newGovToken(t)
	rec := &observetest.Recorder{}
	gw := runGovAppWith(t, writeGovConfig(t, dir, s, hash, govCfg{}), Options{Observer: rec})
	client := newGovClient(t, token)

	a := govern.Key{ID: "prod-1", Environment: "prod", Value: secret.NewValue(simKey)}
	b := govern.Key{ID: "prod-2", Environment: "prod", Value: secret.NewValue(simKey2)}
	rotated := govern.Key{ID: "prod-1", Environment: "prod", Value: secret.NewValue(simKey2)} // same account id, new secret
	pools := [][]govern.Key{{b}, {a, b}, {rotated}, {a}}

	const workers = 8
	var sent atomic.Int64
	stop := make(chan struct{})
	failures := make(chan string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.do(gw.url, fmt.Sprintf("/v1/resolve?query=swap-%d-%d", w, i))
				sent.Add(1)
				switch {
				case err != nil:
					failures <- err.Error()
					return
				case resp.status != http.StatusOK:
					failures <- fmt.Sprintf("status %d: %s", resp.status, resp.body)
					return
				}
			}
		})
	}
	// Swap only while lookups are in flight: each swap waits for more
	// lookups to have been sent since the last one.
	for round := range 60 {
		mark := sent.Load()
		require.Eventually(t, func() bool { return sent.Load() >= mark+workers || len(failures) > 0 }, 30*time.Second, time.Millisecond) // generous: a loaded CI machine; the wait ends as soon as lookups flow
		require.NoError(t, gw.app.SwapKeys("socialeye", pools[round%len(pools)]))
	}
	close(stop)
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Errorf("a lookup failed during key swaps: %s", f)
	}

	used := map[string]bool{}
	for _, f := range observetest.Of[observe.Finished](rec) {
		require.Equal(t, "ok", f.Status)
		used[f.KeyID] = true
	}
	require.Equal(t, map[string]bool{"prod-1": true, "prod-2": true}, used, "both pools served lookups")
	stats := s.Sim.Stats()
	require.Equal(t, stats.Requests, stats.ByStatus[http.StatusOK], "the upstream refused no key: %v", stats.ByStatus)

	// The reflection check learnt the secret the config never named: an
	// upstream echoing the second account's key is refused like one
	// echoing the first's. (client.do also fails if a key gets through.)
	require.NoError(t, gw.app.SwapKeys("socialeye", []govern.Key{b}))
	s.Sim.SetFaults(sim.Faults{Reflect: "base64"})
	resp, err := client.do(gw.url, "/v1/resolve?query=reflected")
	require.NoError(t, err)
	require.Equal(t, http.StatusBadGateway, resp.status, string(resp.body))
	require.Contains(t, string(resp.body), "upstream-invalid-response")
	s.Sim.SetFaults(sim.Faults{})

	// Every secret the pool held since start is still refused in an answer
	// (a proxy that caches may echo a rotated-out key), and a swap the
	// governor refuses changes nothing: neither the pool nor the secrets.
	held := func() []string {
		var out []string
		for _, v := range gw.app.calls.secrets["socialeye"] {
			out = append(out, v.Reveal())
		}
		return out
	}
	require.Equal(t, []string{simKey, simKey2}, held())
	const never = "se-live-NEVER-SWAPPED-IN-99c1"
	require.Error(t, gw.app.SwapKeys("socialeye", []govern.Key{{ID: "prod-9", Environment: "prod", Value: secret.NewValue(never)},
		{ID: "prod-9", Environment: "prod", Value: secret.NewValue(never)}}), "duplicate ids")
	require.Error(t, gw.app.SwapKeys("socialeye", []govern.Key{{ID: "prod-9", Environment: "prod"}}))
	require.Error(t, gw.app.SwapKeys("nope", []govern.Key{a}))
	require.Equal(t, []string{simKey, simKey2}, held(), "a refused swap adds no secret")
	swaps := observetest.Of[observe.KeysSwapped](rec)
	require.Len(t, swaps, 61, "every swap that happened is observed, none that did not")
	require.Equal(t, []string{"prod-2"}, swaps[60].KeyIDs)
	resp, err = client.do(gw.url, "/v1/resolve?query=after-refused-swap")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.status)
}
