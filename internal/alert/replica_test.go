package alert_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/alert"
	"github.com/intelgate/intelgate/internal/observe"
	"github.com/intelgate/intelgate/internal/store"
)

// notRevoked is a key state source that finds every configured key in
// rotation.
func notRevoked(o *alert.Options) {
	o.KeyStates = alert.KeyStateFunc(func(context.Context) ([]alert.KeyState, error) {
		return []alert.KeyState{{Provider: "socialeye", KeyID: "prod-1"}, {Provider: "socialeye", KeyID: "prod-2"},
			{Provider: "vt", KeyID: "k1"}}, nil
	})
}

// evaluating is withSink's engine evaluating every minute, as a gateway
// would (withSink makes it an hour, so that Run never evaluates on its
// own): the hold of an adopted state rule's alert counts evaluations. An
// evaluation of Run's own, should one come, changes nothing here.
func evaluating(o *alert.Options) { o.Rules.EvaluateEvery = time.Minute }

// heldState is a state rule's condition, held and let go by one replica.
type heldState struct {
	rule        string
	hold, clear func(h *harness)
	other       []option // the adopting replica's options
	// quiet: once cleared, the alert resolves after a cooldown without
	// the state, counted from when it cleared (not at once).
	quiet bool
}

func heldStates() map[string]heldState {
	bg := context.Background()
	return map[string]heldState{
		"breaker_open": {rule: alert.RuleBreakerOpen, quiet: true,
			hold: func(h *harness) { h.e.Observe(bg, observe.BreakerChanged{Provider: "vt", From: "closed", To: "open"}) },
			clear: func(h *harness) {
				h.e.Observe(bg, observe.BreakerChanged{Provider: "vt", From: "half-open", To: "closed"})
			}},
		"secret_source": {rule: alert.RuleSecretSource, quiet: true,
			hold:  func(h *harness) { h.e.SecretFailed("secrets.vault.auth", "vault:", errors.New("403")) },
			clear: func(h *harness) { h.e.SecretRecovered("secrets.vault.auth") }},
		// Revocations kept per replica (no shared state): the adopting
		// replica finds the key in rotation; the holder has it revoked.
		"key_rejected (revoked)": {rule: alert.RuleKeyRejected,
			hold:  func(h *harness) { revoke(h, "prod-1") },
			clear: func(h *harness) { h.e.Observe(bg, observe.KeyRestored{Provider: "socialeye", KeyID: "prod-1"}) },
			other: []option{notRevoked}},
	}
}

// A state rule fires once, when the state begins. Replica a holds it for
// an hour; b starts meanwhile and adopts a's live alert. a refreshes the
// row while it holds the state, so b never resolves it and never notifies
// it; once a lets go, a resolves it, and that is the one resolution.
func testHeldStateYields(name string) func(t *testing.T, st store.Store) {
	tc := heldStates()[name]
	return func(t *testing.T, st store.Store) {
		recA, recB := newRecorder(), newRecorder()
		a := newHarness(t, withStore(st), withSink(recA), evaluating)
		runEngine(t, a.e)
		tc.hold(a)
		first := recA.next(t)
		require.Equal(t, alert.EventFired, first.Event)
		b := newHarness(t, append([]option{withStore(st), withSink(recB), evaluating}, tc.other...)...)
		runEngine(t, b.e)
		b.evaluate()
		require.Len(t, b.live(tc.rule), 1, "adopted")

		for range 60 { // an hour, a minute at a time: four cooldowns
			for _, h := range []*harness{a, b} {
				h.clock.Advance(time.Minute)
				h.evaluate()
			}
		}
		require.Empty(t, b.live(tc.rule), "b let go of a's alert")
		got := stored(t, a, alert.Filter{Rule: tc.rule})
		require.Len(t, got, 1)
		require.Equal(t, alert.StateOpen, got[0].State, "b did not resolve what a holds")
		require.Equal(t, first.Alert.ID, got[0].ID)
		require.Equal(t, int64(1), got[0].Count, "refreshing the row is no firing")

		tc.clear(a)
		if tc.quiet {
			a.clock.Advance(14 * time.Minute)
			a.evaluate()
			require.Len(t, a.live(tc.rule), 1, "cleared for less than its cooldown")
			a.clock.Advance(time.Minute)
		}
		a.evaluate()
		require.Empty(t, a.live(tc.rule))
		n := recA.next(t)
		require.Equal(t, alert.EventResolved, n.Event)
		require.Equal(t, first.Alert.ID, n.Alert.ID)
		got = stored(t, a, alert.Filter{Rule: tc.rule})
		require.Len(t, got, 1)
		require.Equal(t, alert.StateResolved, got[0].State)

		b.e.Observe(context.Background(), observe.AuditDropped{Records: 1})
		n = recB.next(t)
		require.Equal(t, alert.RuleAuditDropped, n.Alert.Rule, "b notified nothing of a's alert before")
	}
}

// Both replicas hold the state (both breakers opened: one alert, one row).
// The one that lets go first does not resolve the row while the other
// still holds it: its resolution is conditional on the row not being
// refreshed since its own last write, and is dropped, unnotified. The
// last to let go resolves it, once.
func testBothHoldTheState(name string) func(t *testing.T, st store.Store) {
	tc := heldStates()[name]
	return func(t *testing.T, st store.Store) {
		recA, recB := newRecorder(), newRecorder()
		a := newHarness(t, withStore(st), withSink(recA), evaluating)
		runEngine(t, a.e)
		tc.hold(a)
		require.Equal(t, alert.EventFired, recA.next(t).Event) // written, then notified
		b := newHarness(t, withStore(st), withSink(recB), evaluating)
		runEngine(t, b.e)
		b.evaluate() // adopts a's row
		tc.hold(b)   // and fires it too: within its cooldown, not notified
		steps := func(n int) {
			for range n {
				for _, h := range []*harness{a, b} {
					h.clock.Advance(time.Minute)
					h.evaluate()
				}
			}
		}
		steps(10)
		tc.clear(a)
		steps(30) // a let go two cooldowns ago; b holds on
		require.Empty(t, a.live(tc.rule), "a let go of it")
		require.Len(t, b.live(tc.rule), 1)
		got := stored(t, a, alert.Filter{Rule: tc.rule})
		require.Len(t, got, 1)
		require.Equal(t, alert.StateOpen, got[0].State, "a did not resolve what b still holds")

		tc.clear(b)
		steps(16)
		require.Empty(t, b.live(tc.rule))
		n := recB.next(t)
		require.Equal(t, alert.EventResolved, n.Event, "b resolves it")
		require.Equal(t, got[0].ID, n.Alert.ID)
		got = stored(t, a, alert.Filter{Rule: tc.rule})
		require.Len(t, got, 1)
		require.Equal(t, alert.StateResolved, got[0].State)
		a.e.Observe(context.Background(), observe.AuditDropped{Records: 1})
		require.Equal(t, alert.RuleAuditDropped, recA.next(t).Alert.Rule, "a notified no resolution")
	}
}

// A replica that restarts alone finds nobody refreshing its state rules'
// rows: each resolves after its hold, and is notified once.
func TestRestartAloneResolvesHeldStates(t *testing.T) {
	t.Parallel()
	for name, tc := range heldStates() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "intelgate.db")
			st1 := openFile(t, path)
			h1 := newHarness(t, withStore(st1))
			tc.hold(h1)
			h1.evaluate()
			id := h1.e.Live()[0].ID
			require.NoError(t, st1.Close())

			rec := newRecorder()
			h2 := at(newHarness(t, append([]option{withStore(openFile(t, path)), withSink(rec), evaluating}, tc.other...)...), time.Hour)
			runEngine(t, h2.e)
			h2.evaluate()
			require.Len(t, h2.live(tc.rule), 1, "held after the restart")
			h2.clock.Advance(14 * time.Minute)
			h2.evaluate()
			require.Len(t, h2.live(tc.rule), 1, "still within its hold")
			h2.clock.Advance(time.Minute)
			h2.evaluate()
			require.Empty(t, h2.e.Live())
			n := rec.next(t)
			require.Equal(t, alert.EventResolved, n.Event)
			require.Equal(t, id, n.Alert.ID)
			got := stored(t, h2, alert.Filter{})
			require.Len(t, got, 1)
			require.Equal(t, alert.StateResolved, got[0].State)
		})
	}
}

// The resolution of an adopted alert is notified only once its
// conditional write has won: while the store fails (or backs off) it
// waits; if another replica fired the alert meanwhile, it is dropped.
func testAdoptedResolutionWaitsForTheStore(refired bool) func(t *testing.T, st store.Store) {
	return func(t *testing.T, st store.Store) {
		a := newHarness(t, withStore(st))
		revoke(a, "prod-2") // a's own alert, beside the one under test
		suspect(a)
		a.evaluate()
		rec := newRecorder()
		db := &failingDB{Store: st}
		b := newHarness(t, withStore(db), withSink(rec))
		runEngine(t, b.e)
		b.evaluate()
		require.Len(t, b.e.Live(), 2, "adopted")

		db.failing.Store(true)
		for _, h := range []*harness{a, b} {
			h.clock.Advance(16 * time.Minute)
		}
		b.evaluate() // the suspect key was quiet for its cooldown: resolved, not written
		require.Len(t, b.e.Live(), 1)
		if refired {
			suspect(a)
			a.evaluate()
		}
		b.e.Observe(context.Background(), observe.AuditDropped{Records: 1}) // notified while the store is down
		n := rec.next(t)
		require.Equal(t, alert.RuleAuditDropped, n.Alert.Rule, "no resolution notified before its write")

		db.failing.Store(false)
		b.clock.Advance(2 * time.Second) // past the backoff
		b.evaluate()
		got := stored(t, a, alert.Filter{Rule: alert.RuleKeyRejected})
		byKey := map[string]alert.Alert{}
		for _, x := range got {
			byKey[x.Labels["key_id"]] = x
		}
		b.e.Observe(context.Background(), observe.BreakerChanged{Provider: "vt", From: "closed", To: "open"})
		if refired {
			require.Equal(t, alert.StateOpen, byKey["prod-1"].State, "a's alert is not resolved by b")
			require.Equal(t, int64(2), byKey["prod-1"].Count)
		} else {
			require.Equal(t, alert.StateResolved, byKey["prod-1"].State)
			n = rec.next(t)
			require.Equal(t, alert.EventResolved, n.Event, "notified once written")
			require.Equal(t, "prod-1", n.Alert.Labels["key_id"])
		}
		n = rec.next(t)
		require.Equal(t, alert.RuleBreakerOpen, n.Alert.Rule, "nothing else was notified")
	}
}

// A confirmed key_rejected alert read back at start resolves, after its
// hold, once the key states find its key no longer revoked (its lease ran
// out while the gateway was stopped): no KeyRestored event would ever come.
// A key still revoked keeps it.
func TestRestartResolvesAKeyNoLongerRevoked(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "intelgate.db")
	st1 := openFile(t, path)
	h1 := newHarness(t, withStore(st1))
	revoke(h1, "prod-1")
	revoke(h1, "prod-2")
	h1.evaluate()
	require.NoError(t, st1.Close())

	rec := newRecorder()
	h2 := at(newHarness(t, withStore(openFile(t, path)), withSink(rec), evaluating, func(o *alert.Options) {
		o.KeyStates = alert.KeyStateFunc(func(context.Context) ([]alert.KeyState, error) {
			return []alert.KeyState{{Provider: "socialeye", KeyID: "prod-1"}, {Provider: "socialeye", KeyID: "prod-2", Revoked: true}}, nil
		})
	}), 6*time.Hour)
	runEngine(t, h2.e)
	h2.evaluate()
	require.Len(t, h2.live(alert.RuleKeyRejected), 2)
	h2.clock.Advance(15 * time.Minute)
	h2.evaluate()
	live := h2.live(alert.RuleKeyRejected)
	require.Len(t, live, 1)
	require.Equal(t, "prod-2", live[0].Labels["key_id"], "still revoked: kept")
	n := rec.next(t)
	require.Equal(t, alert.EventResolved, n.Event)
	require.Equal(t, "prod-1", n.Alert.Labels["key_id"])

	h2.clock.Advance(24 * time.Hour)
	h2.evaluate()
	require.Len(t, h2.live(alert.RuleKeyRejected), 1, "a revoked key never resolves by going quiet")
}

// A revocation heard here resolves when the key states find the key in
// rotation again, without a KeyRestored (another replica restored it);
// but not by a poll that was under way when the revocation was heard.
func TestKeyStatesLiftRevocations(t *testing.T) {
	t.Parallel()
	var h *harness
	h = newHarness(t, func(o *alert.Options) {
		o.KeyStates = alert.KeyStateFunc(func(context.Context) ([]alert.KeyState, error) {
			revoke(h, "prod-2") // heard while the poll runs, which read the state before it
			return []alert.KeyState{{Provider: "socialeye", KeyID: "prod-1"}, {Provider: "socialeye", KeyID: "prod-2"}}, nil
		})
	})
	revoke(h, "prod-1")
	h.clock.Advance(time.Second)
	h.evaluate()
	live := h.live(alert.RuleKeyRejected)
	require.Len(t, live, 1)
	require.Equal(t, "prod-2", live[0].Labels["key_id"], "prod-1 restored elsewhere: resolved; prod-2 revoked during the poll: kept")
}

// A restore reads up to twice what the engine keeps of resolutions; the
// rows it resolves beyond max_open must not push out a resolution that was
// already waiting to be written.
func TestRestoreOverflowKeepsPendingResolutions(t *testing.T) {
	t.Parallel()
	st := backends["sqlite"](t)
	h1 := newHarness(t, withStore(st), withRules(func(r *alert.Rules) { r.AuthFailures.Overall = 1000 }))
	for i := range 24 { // 2 × max_open 1 × 12 rules: what the next engine reads
		for range 10 {
			h1.e.AuthFailed(ipv4(i), alert.AuthUnknownToken, "")
		}
	}
	h1.evaluate()
	require.Len(t, h1.live(alert.RuleAuthFailures), 24)

	h2 := newHarness(t, withStore(st), withRules(func(r *alert.Rules) { r.MaxOpen = 1 }))
	revoke(h2, "prod-1") // before the store is read: fired, then restored, pending
	h2.e.Observe(context.Background(), observe.KeyRestored{Provider: "socialeye", KeyID: "prod-1"})
	h2.evaluate() // reads the 24 rows: none has a place (max_open 1 keeps no warning)
	require.Len(t, stored(t, h2, alert.Filter{Rule: alert.RuleAuthFailures, State: alert.StateResolved}), 24)
	kr := stored(t, h2, alert.Filter{Rule: alert.RuleKeyRejected})
	require.Len(t, kr, 1, "the pending resolution was written")
	require.Equal(t, alert.StateResolved, kr[0].State)
	require.Zero(t, h2.meter.get(func(m *meter) int { return m.suppressed[alert.RuleKeyRejected] }))
}
