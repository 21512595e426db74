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
	"github.com/intelgate/intelgate/internal/store"
	"github.com/intelgate/intelgate/internal/store/sqlite"
)

// openFile opens the SQLite store at path, closed when the test ends (or
// earlier, by the caller: a restart).
func openFile(t *testing.T, path string) store.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// at moves a new harness's clock to when the gateway restarted.
func at(h *harness, d time.Duration) *harness {
	h.clock.Advance(d)
	return h
}

// runUntil runs e until the returned stop is called; stop waits for Run
// to return, as the gateway's shutdown does.
func runUntil(t *testing.T, e *alert.Engine) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return after its context ended")
		}
	}
}

// An alert left open at shutdown is tracked again by the next engine over
// the same store file: same id, count, state and acknowledgement; a new
// firing dedupes into it without a notification inside its cooldown; and
// it resolves by its rule, notified once.
func TestRestartAdoptsLiveAlerts(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "intelgate.db")
	fired := shutDownWithAlerts(t, path)

	// The restart, five minutes later.
	rec2 := newRecorder()
	h2 := at(newHarness(t, withStore(openFile(t, path)), withSink(rec2)), 5*time.Minute)
	runEngine(t, h2.e)
	h2.evaluate() // after Run's restore (or doing it)
	kr, us := h2.live(alert.RuleKeyRejected), h2.live(alert.RuleUnexpectedSource)
	require.Len(t, kr, 1, "the open alert is tracked again")
	require.Len(t, us, 1)
	require.Equal(t, fired[alert.RuleKeyRejected].ID, kr[0].ID)
	require.Equal(t, "provider=socialeye,key_id=prod-1", kr[0].DedupeKey)
	require.Equal(t, int64(1), kr[0].Count)
	require.Equal(t, alert.StateOpen, kr[0].State)
	require.Equal(t, fired[alert.RuleUnexpectedSource].ID, us[0].ID)
	require.Equal(t, alert.StateAcknowledged, us[0].State)
	require.Equal(t, "secops", us[0].AckedBy)
	require.True(t, us[0].AckedAt.Equal(t0.Add(time.Minute)))

	// Both fire again inside their cooldowns: counted into the same rows,
	// notified to nobody.
	h2.clock.Advance(time.Minute)
	suspect(h2)
	h2.e.AuthFailed(addr("203.0.113.9"), alert.AuthSourceNotAllowed, "siem")
	h2.evaluate()
	byRule := map[string]alert.Alert{}
	for _, a := range stored(t, h2, alert.Filter{}) {
		byRule[a.Rule] = a
	}
	require.Len(t, byRule, 2, "no second row")
	require.Equal(t, int64(2), byRule[alert.RuleKeyRejected].Count)
	require.Equal(t, int64(2), byRule[alert.RuleUnexpectedSource].Count)
	require.Equal(t, alert.StateAcknowledged, byRule[alert.RuleUnexpectedSource].State, "the acknowledgement holds")
	require.Zero(t, h2.meter.get(func(m *meter) int { return len(m.fired) }), "nothing fired afresh")

	// Quiet for the cooldown: resolved, and that is the first thing the
	// new engine notifies.
	h2.clock.Advance(15 * time.Minute)
	h2.evaluate()
	require.Empty(t, h2.e.Live())
	for range 2 {
		n := rec2.next(t)
		require.Equal(t, alert.EventResolved, n.Event, "no notification before the resolution")
		require.Equal(t, fired[n.Alert.Rule].ID, n.Alert.ID)
	}
	for _, a := range stored(t, h2, alert.Filter{}) {
		require.Equal(t, alert.StateResolved, a.State, a.Rule)
		require.True(t, a.ResolvedAt.Equal(t0.Add(21*time.Minute)))
	}
}

// shutDownWithAlerts runs an engine over the store file at path that
// fires a suspect key (key_rejected, warning) and a token used outside
// its source_cidrs (unexpected_source, critical, then acknowledged a
// minute later), and shuts it down; it returns the alerts by rule, as
// notified.
func shutDownWithAlerts(t *testing.T, path string) map[string]alert.Alert {
	t.Helper()
	st := openFile(t, path)
	rec := newRecorder()
	h := newHarness(t, withStore(st), withSink(rec))
	stop := runUntil(t, h.e)
	suspect(h)
	h.e.AuthFailed(addr("203.0.113.9"), alert.AuthSourceNotAllowed, "siem")
	fired := map[string]alert.Alert{}
	for range 2 {
		n := rec.next(t) // written before it is dispatched
		require.Equal(t, alert.EventFired, n.Event)
		fired[n.Alert.Rule] = n.Alert
	}
	h.clock.Advance(time.Minute)
	_, err := h.e.Ack(context.Background(), fired[alert.RuleUnexpectedSource].ID, "secops")
	require.NoError(t, err)
	stop()
	require.NoError(t, st.Close())
	return fired
}

// An alert raised before the store is read (at start, before Run) is the
// stored one: it takes the row's id and count, and is not notified again
// inside the cooldown of the row's last firing.
func TestRestartMergesAnAlertRaisedBeforeRun(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "intelgate.db")
	st1 := openFile(t, path)
	h1 := newHarness(t, withStore(st1))
	revoke(h1, "prod-1")
	h1.evaluate()
	id := h1.e.Live()[0].ID
	require.NoError(t, st1.Close())

	rec := newRecorder()
	h2 := at(newHarness(t, withStore(openFile(t, path)), withSink(rec)), 2*time.Minute)
	revoke(h2, "prod-1") // before Run: the engine has not read the store yet
	runEngine(t, h2.e)
	h2.evaluate()
	live := h2.live(alert.RuleKeyRejected)
	require.Len(t, live, 1)
	require.Equal(t, id, live[0].ID)
	require.Equal(t, int64(2), live[0].Count)
	got := stored(t, h2, alert.Filter{})
	require.Len(t, got, 1)
	require.Equal(t, int64(2), got[0].Count)

	h2.e.Observe(context.Background(), observe.KeyRestored{Provider: "socialeye", KeyID: "prod-1"})
	n := rec.next(t)
	require.Equal(t, alert.EventResolved, n.Event, "the revocation was notified before the restart: not again")
	require.Equal(t, id, n.Alert.ID)
}

// restartCase is one rule's alert across a restart: the engine before
// and after it (their options), what fires before it, whether the alert
// is still live after the new engine's first evaluation, and what then
// resolves it.
type restartCase struct {
	before, after []option // of the engine before and after the restart
	fire          func(h *harness)
	tracked       bool                           // still live after the first evaluation
	then          func(t *testing.T, h *harness) // the new engine, after it
}

func restartCases() map[string]restartCase {
	return map[string]restartCase{
		"quota: resolved by the first poll": {
			before: []option{func(o *alert.Options) { o.Quotas = &quotaStub{used: 900} }},
			after:  []option{func(o *alert.Options) { o.Quotas = &quotaStub{used: 0} }}, // the day's quota reset meanwhile
		},
		"key_age: resolved by the first poll": {
			before: []option{func(o *alert.Options) { o.KeyAges = &ageStub{changed: t0.Add(-100 * 24 * time.Hour)} }},
			after:  []option{func(o *alert.Options) { o.KeyAges = &ageStub{changed: t0} }}, // rotated meanwhile
		},
		"upstream_errors: resolved after a window of calls": {
			fire: func(h *harness) {
				for i := range 30 {
					kind := ""
					if i%2 == 0 {
						kind = "timeout"
					}
					attempt(h, "socialeye", "prod-1", 0, kind)
				}
			},
			tracked: true, // no calls judged yet: no ratio to clear it
			then: func(t *testing.T, h *harness) {
				h.clock.Advance(5 * time.Minute)
				h.evaluate()
				require.Empty(t, h.e.Live())
			}},
		"breaker_open: resolved a cooldown after the restart": {
			fire: func(h *harness) {
				h.e.Observe(context.Background(), observe.BreakerChanged{Provider: "vt", From: "closed", To: "open"})
			},
			tracked: true, // the gateway was down for an hour, but the breaker is not known closed for a cooldown
			then: func(t *testing.T, h *harness) {
				h.clock.Advance(15 * time.Minute)
				h.evaluate()
				require.Empty(t, h.e.Live())
			}},
		"secret_source: resolved a cooldown after the restart": {
			fire:    func(h *harness) { h.e.SecretFailed("secrets.vault.auth", "vault:", errors.New("403")) },
			tracked: true,
			then: func(t *testing.T, h *harness) {
				h.clock.Advance(15 * time.Minute)
				h.evaluate()
				require.Empty(t, h.e.Live())
			}},
		"key_rejected, revoked: resolved when the key is restored": {
			fire:    func(h *harness) { revoke(h, "prod-1") },
			tracked: true, // a revoked key does not resolve by going quiet
			then: func(t *testing.T, h *harness) {
				h.clock.Advance(time.Hour)
				h.evaluate()
				require.Len(t, h.e.Live(), 1)
				h.e.Observe(context.Background(), observe.KeyRestored{Provider: "socialeye", KeyID: "prod-1"})
				require.Empty(t, h.e.Live())
			}},
		"audit_dropped: resolved, quiet for longer than its cooldown": {
			fire: func(h *harness) { h.e.Observe(context.Background(), observe.AuditDropped{Records: 2}) },
		},
		"a rule that is off now: resolved at once": {
			fire:  suspect,
			after: []option{withRules(func(r *alert.Rules) { r.KeyRejected.Enabled = false })},
		},
	}
}

// What each rule does with an alert it finds live after a restart. The
// event rules resolve by going quiet, as always; the polled ones
// (quota, key_age) by their first poll; upstream_errors once a window of
// calls has been judged; breaker_open and secret_source once a cooldown
// has passed after the restart without the state being reported again;
// a revoked key's key_rejected only when the key is restored; a rule
// that is off now resolves at once.
func TestRestartResolvesEachRule(t *testing.T) {
	t.Parallel()
	for name, tc := range restartCases() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "intelgate.db")
			st1 := openFile(t, path)
			h1 := newHarness(t, append([]option{withStore(st1)}, tc.before...)...)
			if tc.fire != nil {
				tc.fire(h1)
			}
			h1.evaluate()
			require.Len(t, h1.e.Live(), 1)
			require.NoError(t, st1.Close())

			after := tc.after
			if after == nil {
				after = tc.before
			}
			h2 := at(newHarness(t, append([]option{withStore(openFile(t, path))}, after...)...), time.Hour)
			h2.evaluate() // restores, then evaluates
			if !tc.tracked {
				require.Empty(t, h2.e.Live())
				got := stored(t, h2, alert.Filter{})
				require.Len(t, got, 1)
				require.Equal(t, alert.StateResolved, got[0].State, "resolved in the store too")
				return
			}
			live := h2.e.Live()
			require.Len(t, live, 1, "tracked again")
			require.Equal(t, h1.e.Live()[0].ID, live[0].ID)
			tc.then(t, h2)
		})
	}
}

// Alerts keyed by a source take a place in the same budgets as new ones:
// rows beyond max_open are resolved in the store (the oldest), unnotified
// and counted, and the adopted ones keep new ones out as they would have.
func TestRestartKeepsTheSourceBudgets(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "intelgate.db")
	st1 := openFile(t, path)
	h1 := newHarness(t, withStore(st1), withRules(func(r *alert.Rules) { r.MaxOpen = 8 }))
	for i := range 5 { // five per-source auth-failure warnings, a second apart
		for range 10 {
			h1.e.AuthFailed(ipv4(i), alert.AuthUnknownToken, "")
		}
		h1.clock.Advance(time.Second)
	}
	h1.evaluate()
	require.Len(t, h1.live(alert.RuleAuthFailures), 5)
	require.NoError(t, st1.Close())

	// MaxOpen 4 keeps 3 places for warnings.
	rec := newRecorder()
	h2 := at(newHarness(t, withStore(openFile(t, path)), withSink(rec), withRules(func(r *alert.Rules) { r.MaxOpen = 4 })), time.Minute)
	runEngine(t, h2.e)
	h2.evaluate()
	live := h2.live(alert.RuleAuthFailures)
	require.Len(t, live, 3, "as many as the budget holds")
	for _, a := range live {
		require.NotEqual(t, ipv4(0).String(), a.Labels["source"], "the most recently seen are kept")
		require.NotEqual(t, ipv4(1).String(), a.Labels["source"])
	}
	require.Len(t, stored(t, h2, alert.Filter{State: alert.StateResolved}), 2, "the rest resolved in the store")
	require.Equal(t, 2, h2.meter.get(func(m *meter) int { return m.suppressed[alert.RuleAuthFailures] }))
	require.Contains(t, h2.logs.String(), "beyond alerts.max_open were resolved")

	for range 10 {
		h2.e.AuthFailed(addr("198.51.100.1"), alert.AuthUnknownToken, "")
	}
	require.Len(t, h2.live(alert.RuleAuthFailures), 3, "the adopted alerts count against max_open")
	require.Equal(t, 3, h2.meter.get(func(m *meter) int { return m.suppressed[alert.RuleAuthFailures] }))
	revoke(h2, "prod-1")
	n := rec.next(t)
	require.Equal(t, alert.RuleKeyRejected, n.Alert.Rule, "the first notification: neither the adopted nor the resolved rows were notified")
}

// unreadableDB fails every read while failing is set.
type unreadableDB struct {
	store.Store
	failing atomic.Bool
}

func (u *unreadableDB) ReadTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error {
	if u.failing.Load() {
		return errors.New("database unreachable")
	}
	return u.Store.ReadTx(ctx, fn)
}

// A store that cannot be read at start is logged and counted; the engine
// runs on, and reads the live alerts at an evaluation after a backoff.
func TestRestartSurvivesAnUnreadableStore(t *testing.T) {
	t.Parallel()
	st := backends["sqlite"](t)
	h1 := newHarness(t, withStore(st))
	revoke(h1, "prod-1")
	h1.evaluate()
	id := h1.e.Live()[0].ID

	db := &unreadableDB{Store: st}
	db.failing.Store(true)
	h2 := newHarness(t, withStore(db))
	h2.evaluate()
	require.Empty(t, h2.e.Live())
	require.Equal(t, 1, h2.meter.get(func(m *meter) int { return m.storeFail }))
	require.Contains(t, h2.logs.String(), "reading the live alerts from the store failed")
	attempt(h2, "vt", "k1", 401, "auth") // the engine runs on
	require.Len(t, h2.live(alert.RuleKeyRejected), 1)

	db.failing.Store(false)
	h2.evaluate() // within the backoff: not read yet
	require.Len(t, h2.e.Live(), 1)
	h2.clock.Advance(2 * time.Second)
	h2.evaluate()
	live := h2.live(alert.RuleKeyRejected)
	require.Len(t, live, 2)
	require.Contains(t, []string{live[0].ID, live[1].ID}, id)
	require.Equal(t, 1, h2.meter.get(func(m *meter) int { return m.storeFail }))
}

// The store's half of a restart, on every backend: the live rows are read
// back (acknowledged ones too) and resolve by their rule.
func testRestartAdoptsLive(t *testing.T, st store.Store) {
	h1 := newHarness(t, withStore(st))
	revoke(h1, "prod-1")
	suspect(h1)
	attempt(h1, "vt", "k1", 401, "auth")
	h1.evaluate()
	ids := map[string]string{}
	for _, a := range h1.e.Live() {
		ids[a.Labels["key_id"]] = a.ID
	}
	_, err := h1.e.Ack(context.Background(), ids["k1"], "secops")
	require.NoError(t, err)

	h2 := at(newHarness(t, withStore(st)), 20*time.Minute)
	h2.evaluate() // the suspect vt key was quiet for its cooldown: resolved; the revoked one stays
	live := h2.live(alert.RuleKeyRejected)
	require.Len(t, live, 1)
	require.Equal(t, ids["prod-1"], live[0].ID)
	got, err := alert.NewStore(st).Get(context.Background(), ids["k1"])
	require.NoError(t, err)
	require.Equal(t, alert.StateResolved, got.State)
	require.Equal(t, "secops", got.AckedBy)
	h2.e.Observe(context.Background(), observe.KeyRestored{Provider: "socialeye", KeyID: "prod-1"})
	h2.evaluate()
	require.Empty(t, stored(t, h2, alert.Filter{State: alert.StateOpen}))
}

// A replica that adopted a live row at start and never saw it fire does
// not resolve it while another replica still fires it: its resolution is
// written only if the row was not seen since, and is not notified.
func testAdoptedYieldsToReplica(t *testing.T, st store.Store) {
	a := newHarness(t, withStore(st))
	suspect(a)
	a.evaluate()
	rec := newRecorder()
	b := newHarness(t, withStore(st), withSink(rec)) // starts while a's alert is live
	runEngine(t, b.e)
	b.evaluate()
	require.Len(t, b.e.Live(), 1, "adopted")

	for _, h := range []*harness{a, b} {
		h.clock.Advance(10 * time.Minute)
	}
	suspect(a) // a still sees the key refused
	a.evaluate()
	b.clock.Advance(6 * time.Minute) // b's copy: quiet for its cooldown since it was read
	b.evaluate()
	require.Empty(t, b.e.Live(), "b lets go of it")
	got := stored(t, a, alert.Filter{})
	require.Len(t, got, 1)
	require.Equal(t, alert.StateOpen, got[0].State, "a's live alert is not resolved by b")
	require.Equal(t, int64(2), got[0].Count)

	revoke(b, "prod-2")
	n := rec.next(t)
	require.Equal(t, alert.EventFired, n.Event, "b notified no resolution of a's alert")
	require.Equal(t, "prod-2", n.Alert.Labels["key_id"])
}
