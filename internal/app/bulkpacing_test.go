package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/gateway"
	"github.com/intelgate/intelgate/internal/lookup"
	"github.com/intelgate/intelgate/internal/observe"
	"github.com/intelgate/intelgate/internal/observe/observetest"
	"github.com/intelgate/intelgate/internal/pgtest"
	"github.com/intelgate/intelgate/internal/redistest"
	"github.com/intelgate/intelgate/internal/sim"
)

// bulkPacing is one run of the pacing scenario: a provider limited to
// rate/s with a burst of burst (the simulator and the configured limit
// alike), and a bulk job of items draining it.
type bulkPacing struct {
	// perMinute is the provider's rate: it must stay below what the queue
	// can work even under -race on two loaded cores (SQLite was seen at
	// about one item a second there), or bulk work never outpaces it and
	// the scenario — a contended provider — never happens.
	perMinute, burst, items int
	// round is how many lookups the analyst sends at once: the reserve,
	// ceil(0.2 × the burst after headroom); every is how many items the
	// job must have finished since the last round before the next.
	round, every int
	// storage and top are govCfg's: the embedded default when empty.
	storage, top string
	dir          string
}

// config is a gateway whose interactive lookups may not wait for capacity
// at all (max_wait 0): an interactive lookup that found no unit free would
// be refused at once, so "never refused" is "never waited", with no clock
// involved. The simulator's bucket is four seconds (and two bursts) deep:
// it polices the sustained rate without refusing, or announcing "remaining
// 0" to, a request the gateway paced correctly but a loaded machine
// delivered late. Client soar submits the job; siem is the analyst.
func (b bulkPacing) config(t *testing.T, s *sim.Server, siemHash, soarHash string) string {
	t.Helper()
	return writeGovConfig(t, b.dir, s, siemHash, govCfg{
		server:   "write_timeout: 60s",
		provider: fmt.Sprintf("    limits: {rate: %d/m, burst: %d, max_wait: 0s}\n", b.perMinute, b.burst),
		cache:    "{ttl: 1h}",
		storage:  b.storage,
		client:   fmt.Sprintf("  soar:\n    token_sha256: %s\n    providers: [socialeye]\n", soarHash),
		top:      b.top + "jobs: {workers: 6, retry: {base: 10ms, max: 50ms}, poll_interval: 50ms}\n",
	})
}

// acquisitions counts the governor's leases as it hands them out: the
// observer hears each one right after its unit was taken.
type acquisitions struct{ n atomic.Int64 }

func (a *acquisitions) Observe(_ context.Context, e observe.Event) {
	if w, ok := e.(observe.GovernorWaited); ok && w.Outcome == "acquired" {
		a.n.Add(1)
	}
}

// lookupOK runs one interactive /v1/lookup and reports whether the
// provider answered ok; an error otherwise (safe off the test goroutine).
func lookupOK(c *govClient, base, ind string) error {
	r, err := c.do(base, "/v1/lookup?providers=socialeye&indicator="+url.QueryEscape(ind))
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		return fmt.Errorf("lookup %s: %d %s", ind, r.status, r.body)
	}
	var lr gateway.LookupResponse
	if err := json.Unmarshal(r.body, &lr); err != nil {
		return fmt.Errorf("lookup %s: %w", ind, err)
	}
	if len(lr.Results) != 1 || lr.Results[0].Status != "ok" {
		return fmt.Errorf("lookup %s: %s", ind, r.body)
	}
	return nil
}

// TestInteractiveLookupsStayFastWhileABulkJobDrains is issue 11's pacing
// check: a bulk job drains a rate-limited provider while an analyst keeps
// looking things up. Bulk work takes units only while the interactive
// reserve (jobs.interactive_share, 20% of the burst) stays, so every
// interactive lookup finds a unit free the moment it asks: none is
// refused, and — max_wait being 0 — none can have waited in the governor.
// The job still completes, every item asked upstream once (a refused item
// is snoozed, not failed, and asks again), and items whose answer is cached
// complete without a provider call.
//
// The analyst asks in rounds of as many lookups at once as the reserve
// holds, each round right after the job has taken a few units (between
// rounds only the job takes any): bulk work takes a unit only with more than
// the reserve left, so however busy it is, the reserve is there when the
// round begins — /v1/quota shows it, and no lookup of the round is
// refused. Without the reserve, bulk work spends each unit as it is earned
// and the round finds the bucket empty. Waiting for the job's units also
// keeps the analyst within a third or a half of the rate, as people are:
// interactive lookups have priority, and an analyst asking whenever the
// reserve is full would leave bulk work only what it does not take.
// Nothing here is timed.
//
// Distributed (PostgreSQL jobs, Redis limits: the reserve kept by the Lua
// script) with many items; embedded (SQLite, in-process limits) with a
// few on a slower provider: River on SQLite works items at about one a
// second under -race on a loaded machine. Either way the job starts on an
// empty bucket, so its workers, which start together, are held back at
// first however slowly they go on.
func TestInteractiveLookupsStayFastWhileABulkJobDrains(t *testing.T) {
	t.Parallel()
	t.Run("distributed", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "pg.dsn"), []byte(pgtest.DSN(t)+"\n"), 0o600))
		// 4/s, burst 10: 2 of them reserved.
		bulkPacing{perMinute: 240, burst: 10, items: 100, round: 2, every: 4, dir: dir, storage: `{driver: postgres, dsn: "file:pg.dsn"}`,
			top: redisShared(t, redistest.URL(t), dir)}.run(t)
	})
	t.Run("embedded", func(t *testing.T) {
		t.Parallel()
		// 1 every 2 s, burst 10: 2 of them reserved.
		bulkPacing{perMinute: 30, burst: 10, items: 20, round: 2, every: 2, dir: t.TempDir()}.run(t)
	})
}

func (b bulkPacing) run(t *testing.T) {
	s := startGovSim(t, sim.Options{Rate: float64(b.perMinute) / 60, Burst: max(4*b.perMinute/60, 2*b.burst)})
	siemToken, siemHash := newGovToken(t)
	soarToken, soarHash := newGovToken(t)
	rec, acquired := &observetest.Recorder{}, &acquisitions{}
	gw := runGovAppWith(t, b.config(t, s, siemHash, soarHash), Options{Observer: observe.Join(rec, acquired)})
	analyst, soar := newGovClient(t, siemToken), newGovClient(t, soarToken)

	// Answers the analyst already has, the job finds in the cache. Asked
	// all at once, they spend the key's whole bucket (burst after
	// headroom): the job starts on an empty one, so it is held back at
	// first however slowly the queue works items.
	burst := govKeyStatus(t, analyst.quota(t, gw.url), "socialeye", "prod-1").Rate.Burst
	cached := burst
	var inds []string
	errs := make([]error, cached)
	var wg sync.WaitGroup
	for i := range cached {
		ind := fmt.Sprintf("cached-%d.example.org", i)
		inds = append(inds, ind)
		wg.Go(func() { errs[i] = lookupOK(analyst, gw.url, ind) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	for i := range b.items - cached {
		inds = append(inds, fmt.Sprintf("bulk-%d.example.org", i))
	}
	body, err := json.Marshal(map[string]any{"indicators": inds, "type": "domain"})
	require.NoError(t, err)
	r := soar.postBody(t, gw.url, "/v1/jobs", "application/json", string(body))
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))
	var job gateway.JobResponse
	require.NoError(t, json.Unmarshal(r.body, &job))

	round, rounds, taken := b.round, 0, acquired.n.Load()
	for ; ; rounds++ {
		var j gateway.JobResponse
		moved := govPoll(60*time.Second, 5*time.Millisecond, func() bool {
			if acquired.n.Load() >= taken+int64(b.every) {
				return true
			}
			jr := soar.get(t, gw.url, "/v1/jobs/"+job.ID)
			require.Equal(t, http.StatusOK, jr.status, string(jr.body))
			require.NoError(t, json.Unmarshal(jr.body, &j))
			return j.Status == "done"
		})
		require.True(t, moved, "the job stopped taking units: %+v", j.Counts)
		if j.Status == "done" {
			break
		}
		// Bulk work has just taken units: each only with more than the
		// reserve left, so the reserve is there now, whatever bulk does
		// next.
		k := govKeyStatus(t, analyst.quota(t, gw.url), "socialeye", "prod-1")
		require.GreaterOrEqual(t, k.Rate.Remaining, round, "round %d: bulk work took the reserve", rounds)
		errs := make([]error, round)
		for i := range round {
			wg.Go(func() { errs[i] = lookupOK(analyst, gw.url, fmt.Sprintf("analyst-%d-%d.example.org", rounds, i)) })
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "round %d, lookup %d: an interactive lookup was refused while bulk work drained the provider", rounds, i)
		}
		taken = acquired.n.Load()
	}
	require.GreaterOrEqual(t, rounds, 2, "the analyst's lookups ran while the job drained the provider")

	done := waitJob(t, soar, gw.url, job.ID)
	require.Equal(t, b.items, done.Counts.Done, "%+v", done.Counts)
	stats := s.Sim.Stats()
	for _, l := range results(t, soar, gw.url, job.ID, 0) {
		require.Equal(t, "done", string(l.State), "item %d", l.Item)
		require.Equal(t, "ok", l.Status, "item %d", l.Item)
		require.Equal(t, 1, stats.ByQuery[l.Normalized], "%s asked upstream once", l.Normalized)
		if l.Item <= cached {
			require.True(t, l.Cached, "item %d was answered from the cache", l.Item)
		}
	}

	// Structurally, from what the gateway observed: every refusal in the
	// governor was bulk work's (the item snoozed and asked again), none
	// an analyst's, and bulk work was held back — the provider was
	// drained, not idle.
	var bulkRefused, analystFinished, refusals int
	for _, e := range rec.Events() {
		switch e := e.(type) {
		case observe.Finished:
			switch e.Client {
			case "siem":
				analystFinished++
				require.Equal(t, string(lookup.StatusOK), e.Status, "an interactive lookup failed: %+v", e)
			case "soar":
				if e.Kind == string(lookup.KindUpstreamRateLimited) {
					bulkRefused++
				}
			}
		case observe.GovernorWaited:
			if e.Outcome != "acquired" {
				refusals++
			}
		}
	}
	require.Equal(t, cached+round*rounds, analystFinished)
	require.Positive(t, bulkRefused, "bulk work was held back")
	require.Equal(t, bulkRefused, refusals, "every refusal in the governor was a bulk item's")
	t.Logf("%d items at %d/m, %d analyst rounds of %d; bulk held back %d times; simulator: %d requests, %d rate limited",
		b.items, b.perMinute, rounds, round, bulkRefused, stats.Requests, stats.RateLimited)
}
