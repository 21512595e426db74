package alert_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/alert"
	"github.com/intelgate/intelgate/internal/observe"
)

// withSink adds a recording sink that hears every severity and
// resolutions; Run's own ticker is pushed out of the test's way (the test
// evaluates when it means to).
func withSink(rec *recorder) option {
	return func(o *alert.Options) {
		o.Sinks = append(o.Sinks, alert.SinkSpec{Name: "rec", Sink: rec, SendResolved: true})
		o.Rules.EvaluateEvery = time.Hour
	}
}

func suspect(h *harness) { attempt(h, "socialeye", "prod-1", 401, "auth") }

// Repeats of a live alert add to its count and last-seen time, and notify
// again only once a cooldown has passed since the last notification; an
// escalation notifies at once.
func TestDedupeAndCooldown(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := newHarness(t, withSink(rec))
	runEngine(t, h.e)

	suspect(h)
	n := rec.next(t)
	require.Equal(t, alert.EventFired, n.Event)
	require.Equal(t, alert.RuleKeyRejected, n.Alert.Rule)
	require.Equal(t, alert.Warning, n.Alert.Severity)
	require.Equal(t, int64(1), n.Alert.Count)
	id := n.Alert.ID

	for range 5 { // within the cooldown: counted, not notified
		h.clock.Advance(time.Minute)
		suspect(h)
	}
	h.clock.Advance(10 * time.Minute) // 15m since the notification
	suspect(h)
	n = rec.next(t)
	require.Equal(t, alert.EventRepeated, n.Event, "nothing was notified in between")
	require.Equal(t, int64(7), n.Alert.Count)
	require.Equal(t, id, n.Alert.ID)
	require.True(t, n.Alert.LastSeen.Equal(t0.Add(15*time.Minute)))

	h.clock.Advance(time.Minute)
	h.e.Observe(context.Background(), observe.KeyChecked{Provider: "socialeye", KeyID: "prod-1", Verdict: "refused", UpstreamStatus: 401})
	n = rec.next(t)
	require.Equal(t, alert.EventEscalated, n.Event, "within the cooldown, but more urgent")
	require.Equal(t, alert.Critical, n.Alert.Severity)
	require.Equal(t, id, n.Alert.ID)

	// Quiet for a cooldown (the key was never revoked): resolved.
	h.clock.Advance(15 * time.Minute)
	h.evaluate()
	n = rec.next(t)
	require.Equal(t, alert.EventResolved, n.Event)
	require.Equal(t, alert.StateResolved, n.Alert.State)
	require.Empty(t, h.e.Live())

	suspect(h)
	n = rec.next(t)
	require.Equal(t, alert.EventFired, n.Event, "a new alert")
	require.NotEqual(t, id, n.Alert.ID)
	require.Equal(t, int64(1), n.Alert.Count)
}

// An acknowledged alert stays quiet while it keeps firing, until it fires
// a cooldown after the acknowledgement: then it reopens.
func TestAckQuietsUntilCooldown(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := newHarness(t, withSink(rec), withStore(backends["sqlite"](t)))
	runEngine(t, h.e)

	revoke(h, "prod-1")
	n := rec.next(t) // written before it is dispatched: ackable now
	a, err := h.e.Ack(context.Background(), n.Alert.ID, "secops")
	require.NoError(t, err)
	require.Equal(t, alert.StateAcknowledged, a.State)

	for range 14 {
		h.clock.Advance(time.Minute)
		revoke(h, "prod-1")
	}
	h.clock.Advance(time.Minute)
	revoke(h, "prod-1")
	n = rec.next(t)
	require.Equal(t, alert.EventReopened, n.Event, "nothing between the acknowledgement and now")
	require.Equal(t, alert.StateOpen, n.Alert.State)
	require.Equal(t, int64(16), n.Alert.Count)
	require.Equal(t, "secops", n.Alert.AckedBy, "who acknowledged it last stays on record")

	h.e.Observe(context.Background(), observe.KeyRestored{Provider: "socialeye", KeyID: "prod-1"})
	n = rec.next(t)
	require.Equal(t, alert.EventResolved, n.Event)
	h.evaluate()
	got, err := h.e.List(context.Background(), alert.Filter{})
	require.NoError(t, err)
	require.Len(t, got.Alerts, 1)
	require.Equal(t, alert.StateResolved, got.Alerts[0].State)
	require.Equal(t, int64(16), got.Alerts[0].Count)
}

// Per-rule cooldowns override the global one.
func TestRuleCooldownOverride(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := newHarness(t, withSink(rec), withRules(func(r *alert.Rules) { r.KeyRejected.Cooldown = 2 * time.Hour }))
	runEngine(t, h.e)
	suspect(h)
	require.Equal(t, alert.EventFired, rec.next(t).Event)
	h.clock.Advance(time.Hour) // past the global 15m, within the rule's 2h
	suspect(h)
	h.clock.Advance(time.Hour)
	suspect(h)
	n := rec.next(t)
	require.Equal(t, alert.EventRepeated, n.Event)
	require.Equal(t, int64(3), n.Alert.Count)
}

// OnFire hears what fires, escalates and reopens, and not reminders or
// resolutions.
func TestOnFire(t *testing.T) {
	t.Parallel()
	fired := make(chan alert.Alert, 10)
	rec := newRecorder()
	h := newHarness(t, withSink(rec), func(o *alert.Options) { o.OnFire = func(a alert.Alert) { fired <- a } })
	runEngine(t, h.e)
	h.e.AuthFailed(addr("203.0.113.9"), alert.AuthSourceNotAllowed, "siem")
	require.Equal(t, alert.EventFired, rec.next(t).Event)
	a := <-fired // OnFire runs before the sinks are handed the notification
	require.Equal(t, alert.RuleUnexpectedSource, a.Rule)
	require.Equal(t, "203.0.113.0/24", a.Labels["source"])
	h.clock.Advance(16 * time.Minute)
	h.e.AuthFailed(addr("203.0.113.9"), alert.AuthSourceNotAllowed, "siem")
	require.Equal(t, alert.EventRepeated, rec.next(t).Event)
	require.Empty(t, fired)
}
