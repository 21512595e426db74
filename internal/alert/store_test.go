package alert_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/alert"
	"github.com/intelgate/intelgate/internal/observe"
	"github.com/intelgate/intelgate/internal/pgtest"
	"github.com/intelgate/intelgate/internal/store"
	"github.com/intelgate/intelgate/internal/store/postgres"
	"github.com/intelgate/intelgate/internal/store/sqlite"
)

// backends are the stores the alert table runs on: one test function,
// both dialects. PostgreSQL skips (through pgtest) without
// INTELGATE_TEST_POSTGRES_DSN.
var backends = map[string]func(t *testing.T) store.Store{
	"sqlite": func(t *testing.T) store.Store {
		st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "alerts.db"))
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		return st
	},
	"postgres": func(t *testing.T) store.Store {
		st, err := postgres.Open(t.Context(), pgtest.DSN(t), postgres.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		return st
	},
}

func TestStore(t *testing.T) {
	t.Parallel()
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testStore(t, open)
		})
	}
}

// testStore is the alert table's behaviour, the same on every backend.
func testStore(t *testing.T, open func(t *testing.T) store.Store) {
	cases := map[string]func(t *testing.T, st store.Store){
		"RoundTrip":            testRoundTrip,
		"CountsAcrossFlushes":  testCountsAcrossFlushes,
		"AckResolveRefire":     testAckResolveRefire,
		"ListFiltersAndPages":  testListPages,
		"Sweep":                testSweep,
		"ReplicasShareOneRow":  testReplicas,
		"OutageDropsNothing":   testOutage,
		"AckedThroughReplicaB": testAckAcrossReplicas,
		"RestartAdoptsLive":    testRestartAdoptsLive,
		"AdoptedYields":        testAdoptedYieldsToReplica,
		"DeadLettersOneRow":    testDeadLetterReplicas,
		"AdoptedWaitsForStore/fired meanwhile: dropped":     testAdoptedResolutionWaitsForTheStore(true),
		"AdoptedWaitsForStore/quiet: notified once written": testAdoptedResolutionWaitsForTheStore(false),
	}
	for name := range heldStates() {
		cases["HeldStateYields/"+name] = testHeldStateYields(name)
		if name != alert.RuleKeyRejected+" (revoked)" {
			cases["BothHoldTheState/"+name] = testBothHoldTheState(name)
		}
	}
	for name, fn := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, open(t))
		})
	}
}

func withStore(st alert.DB) option {
	return func(o *alert.Options) { o.Store = alert.NewStore(st) }
}

func revoke(h *harness, key string) {
	h.e.Observe(context.Background(), observe.KeyRevoked{Provider: "socialeye", KeyID: key})
}

func stored(t *testing.T, h *harness, f alert.Filter) []alert.Alert {
	t.Helper()
	p, err := h.e.List(context.Background(), f)
	require.NoError(t, err)
	return p.Alerts
}

func testRoundTrip(t *testing.T, st store.Store) {
	h := newHarness(t, withStore(st))
	h.e.AuthFailed(addr("203.0.113.9"), alert.AuthSourceNotAllowed, "siem")
	h.evaluate()
	got := stored(t, h, alert.Filter{})
	require.Len(t, got, 1)
	live := h.e.Live()[0]
	a := got[0]
	require.Equal(t, live.ID, a.ID)
	require.Equal(t, alert.RuleUnexpectedSource, a.Rule)
	require.Equal(t, alert.Critical, a.Severity)
	require.Equal(t, "client=siem,source=203.0.113.0/24", a.DedupeKey)
	require.Equal(t, map[string]string{"client": "siem", "source": "203.0.113.0/24"}, a.Labels)
	require.Equal(t, live.Summary, a.Summary)
	require.True(t, a.FirstSeen.Equal(t0) && a.LastSeen.Equal(t0), "%v %v", a.FirstSeen, a.LastSeen)
	require.Equal(t, time.UTC, a.FirstSeen.Location())
	require.Equal(t, int64(1), a.Count)
	require.Equal(t, alert.StateOpen, a.State)
	require.Empty(t, a.AckedBy)
	require.True(t, a.AckedAt.IsZero() && a.ResolvedAt.IsZero())

	one, err := alert.NewStore(st).Get(context.Background(), a.ID)
	require.NoError(t, err)
	require.Equal(t, a, one)
	_, err = alert.NewStore(st).Get(context.Background(), "alr_nope")
	require.ErrorIs(t, err, alert.ErrNotFound)
}

func testCountsAcrossFlushes(t *testing.T, st store.Store) {
	h := newHarness(t, withStore(st))
	revoke(h, "prod-1")
	h.evaluate()
	for range 3 {
		h.clock.Advance(time.Second)
		revoke(h, "prod-1")
	}
	h.evaluate()
	h.evaluate() // nothing changed: nothing written twice
	got := stored(t, h, alert.Filter{})
	require.Len(t, got, 1)
	require.Equal(t, int64(4), got[0].Count)
	require.True(t, got[0].LastSeen.Equal(t0.Add(3*time.Second)))
	require.True(t, got[0].FirstSeen.Equal(t0))
}

func testAckResolveRefire(t *testing.T, st store.Store) {
	h := newHarness(t, withStore(st))
	revoke(h, "prod-1")
	h.evaluate()
	id := h.e.Live()[0].ID

	_, err := h.e.Ack(context.Background(), "alr_unknown", "admin")
	require.ErrorIs(t, err, alert.ErrNotFound)
	_, err = h.e.Ack(context.Background(), id, "")
	require.Error(t, err)

	h.clock.Advance(time.Minute)
	a, err := h.e.Ack(context.Background(), id, "secops-admin")
	require.NoError(t, err)
	require.Equal(t, alert.StateAcknowledged, a.State)
	require.Equal(t, "secops-admin", a.AckedBy)
	require.True(t, a.AckedAt.Equal(t0.Add(time.Minute)))
	require.Equal(t, alert.StateAcknowledged, h.e.Live()[0].State)

	// A repeat within the cooldown keeps the acknowledgement, stored too.
	revoke(h, "prod-1")
	h.evaluate()
	require.Equal(t, alert.StateAcknowledged, stored(t, h, alert.Filter{})[0].State)

	h.clock.Advance(time.Minute)
	h.e.Observe(context.Background(), observe.KeyRestored{Provider: "socialeye", KeyID: "prod-1"})
	h.evaluate()
	got := stored(t, h, alert.Filter{})
	require.Len(t, got, 1)
	require.Equal(t, alert.StateResolved, got[0].State)
	require.True(t, got[0].ResolvedAt.Equal(t0.Add(2*time.Minute)))
	require.Equal(t, int64(2), got[0].Count)
	require.Equal(t, "secops-admin", got[0].AckedBy, "the acknowledgement is kept in the history")

	// The same condition again is a new alert.
	h.clock.Advance(time.Minute)
	revoke(h, "prod-1")
	h.evaluate()
	all := stored(t, h, alert.Filter{})
	require.Len(t, all, 2)
	require.NotEqual(t, id, all[0].ID)
	require.Equal(t, alert.StateOpen, all[0].State)
	require.Equal(t, alert.StateResolved, all[1].State)
}

func testListPages(t *testing.T, st store.Store) {
	h := newHarness(t, withStore(st))
	for i := range 5 {
		h.e.AuthFailed(ipv4(i<<8), alert.AuthSourceNotAllowed, "siem") // five alerts (one /24 each), a second apart
		h.clock.Advance(time.Second)
	}
	revoke(h, "prod-1")
	h.evaluate()
	require.Len(t, stored(t, h, alert.Filter{}), 6)
	require.Len(t, stored(t, h, alert.Filter{Rule: alert.RuleKeyRejected}), 1)
	require.Len(t, stored(t, h, alert.Filter{State: alert.StateOpen}), 6)
	require.Empty(t, stored(t, h, alert.Filter{State: alert.StateResolved}))
	require.Len(t, stored(t, h, alert.Filter{Since: t0.Add(3 * time.Second)}), 3)

	var ids []string
	f := alert.Filter{Rule: alert.RuleUnexpectedSource, Limit: 2}
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5)
		p, err := h.e.List(context.Background(), f)
		require.NoError(t, err)
		for _, a := range p.Alerts {
			ids = append(ids, a.ID)
		}
		if p.Next == "" {
			require.Len(t, p.Alerts, 1)
			break
		}
		require.Len(t, p.Alerts, 2)
		f.Cursor = p.Next
	}
	require.Len(t, ids, 5)
	newest := stored(t, h, alert.Filter{Rule: alert.RuleUnexpectedSource})
	for i, a := range newest {
		require.Equal(t, a.ID, ids[i], "pages follow newest-first order without gaps or repeats")
	}

	_, err := h.e.List(context.Background(), alert.Filter{Cursor: "not-a-cursor"})
	require.ErrorIs(t, err, alert.ErrInvalidFilter)
	_, err = h.e.List(context.Background(), alert.Filter{State: "closed"})
	require.ErrorIs(t, err, alert.ErrInvalidFilter)
}

func testSweep(t *testing.T, st store.Store) {
	h := newHarness(t, withStore(st))
	s := alert.NewStore(st)
	for i := range 4 {
		h.e.AuthFailed(ipv4(i<<8), alert.AuthSourceNotAllowed, "siem") // one /24 each
	}
	revoke(h, "prod-1") // stays open: never swept
	h.evaluate()
	live := h.live(alert.RuleUnexpectedSource)
	_, err := h.e.Ack(context.Background(), live[0].ID, "admin")
	require.NoError(t, err)
	h.clock.Advance(16 * time.Minute) // the unexpected_source alerts resolve quietly …
	h.evaluate()
	revoke(h, "prod-1")
	h.evaluate()

	n, err := s.Sweep(context.Background(), t0.Add(time.Second), 2)
	require.NoError(t, err)
	require.Equal(t, int64(2), n, "at most limit")
	n, err = s.Sweep(context.Background(), t0.Add(time.Second), 10)
	require.NoError(t, err)
	require.Equal(t, int64(2), n)
	got := stored(t, h, alert.Filter{})
	require.Len(t, got, 1)
	require.Equal(t, alert.RuleKeyRejected, got[0].Rule)
	_, err = s.Sweep(context.Background(), t0, 0)
	require.Error(t, err)
}

// Two replicas seeing the same condition write one row, counts summed.
func testReplicas(t *testing.T, st store.Store) {
	a, b := newHarness(t, withStore(st)), newHarness(t, withStore(st))
	revoke(a, "prod-1")
	a.evaluate()
	revoke(b, "prod-1")
	revoke(b, "prod-1")
	b.evaluate()
	got := stored(t, a, alert.Filter{})
	require.Len(t, got, 1)
	require.Equal(t, int64(3), got[0].Count)
	require.Equal(t, a.e.Live()[0].ID, b.e.Live()[0].ID, "b adopts the row a wrote")
}

func testAckAcrossReplicas(t *testing.T, st store.Store) {
	a, b := newHarness(t, withStore(st)), newHarness(t, withStore(st))
	revoke(a, "prod-1")
	a.evaluate()
	revoke(b, "prod-1")
	b.evaluate()
	_, err := a.e.Ack(context.Background(), a.e.Live()[0].ID, "admin")
	require.NoError(t, err)
	b.clock.Advance(time.Minute)
	revoke(b, "prod-1")
	b.evaluate()
	require.Equal(t, alert.StateAcknowledged, b.e.Live()[0].State, "b learns of the acknowledgement from its write")
	require.Equal(t, alert.StateAcknowledged, stored(t, b, alert.Filter{})[0].State)
}

// failingDB fails every write transaction while failing is set.
type failingDB struct {
	store.Store
	failing atomic.Bool
}

func (f *failingDB) InTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error {
	if f.failing.Load() {
		return errors.New("database unreachable")
	}
	return f.Store.InTx(ctx, fn)
}

// A store outage loses no firing: the writes are counted as failed, kept,
// and retried after a backoff.
func testOutage(t *testing.T, st store.Store) {
	db := &failingDB{Store: st}
	db.failing.Store(true)
	h := newHarness(t, withStore(db))
	revoke(h, "prod-1")
	revoke(h, "prod-2")
	h.evaluate()
	require.Equal(t, 1, h.meter.get(func(m *meter) int { return m.storeFail }))
	require.Contains(t, h.logs.String(), "writing alerts to the store failed")
	revoke(h, "prod-1")
	h.e.Observe(context.Background(), observe.KeyRestored{Provider: "socialeye", KeyID: "prod-2"}) // resolved while down

	db.failing.Store(false)
	h.evaluate() // within the backoff: not retried yet
	require.Empty(t, stored(t, h, alert.Filter{}))
	h.clock.Advance(2 * time.Second)
	h.evaluate()
	got := stored(t, h, alert.Filter{})
	require.Len(t, got, 2)
	byKey := map[string]alert.Alert{}
	for _, a := range got {
		byKey[a.Labels["key_id"]] = a
	}
	require.Equal(t, int64(2), byKey["prod-1"].Count)
	require.Equal(t, alert.StateOpen, byKey["prod-1"].State)
	require.Equal(t, alert.StateResolved, byKey["prod-2"].State)
	require.Equal(t, 1, h.meter.get(func(m *meter) int { return m.storeFail }))
}

func TestNoStore(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	revoke(h, "prod-1")
	h.evaluate()
	_, err := h.e.List(context.Background(), alert.Filter{})
	require.ErrorIs(t, err, alert.ErrNoStore)
	_, err = h.e.Ack(context.Background(), "alr_x", "admin")
	require.ErrorIs(t, err, alert.ErrNoStore)
	require.Len(t, h.e.Live(), 1)
}
