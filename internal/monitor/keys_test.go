package monitor_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/monitor"
	"github.com/intelgate/intelgate/internal/observe"
)

type keyAges []monitor.KeyAge

func (k keyAges) KeyAges() []monitor.KeyAge { return k }

func keySequence() []observe.Event {
	return []observe.Event{
		observe.KeyRotated{Provider: "p", KeyID: "k"},
		observe.KeyRotated{Provider: "p", KeyID: "k"},
		observe.SecretsRefreshed{Outcome: "ok", Stale: 2},
		observe.SecretsRefreshed{Outcome: "error"},
		observe.SecretsRefreshed{Outcome: "sk_live_not_a_label"},
		observe.ConfigReloaded{Outcome: "refused"},
		observe.ConfigReloaded{Outcome: "ok"},
	}
}

// Rotations, refreshes and reloads are counted by low-cardinality labels
// only (an unknown outcome is "other", never the text), the stale gauge
// keeps the last successful refresh's count, and each key's age is read
// at scrape time; a key of unknown age is not exported.
func TestKeyMetrics(t *testing.T) {
	t.Parallel()
	m := monitor.New(monitor.Options{})
	for _, e := range keySequence() {
		m.Observe(context.Background(), e)
	}
	now := time.Now()
	m.WatchKeyAges(keyAges{
		{Provider: "p", KeyID: "k", ChangedAt: now.Add(-91 * 24 * time.Hour)},
		{Provider: "p", KeyID: "unknown-age"},
	})
	got := samples(t, m.Registry())
	require.Equal(t, 2.0, got[`intelgate_key_rotations_total{key_id="k",provider="p"}`])
	require.Equal(t, 1.0, got[`intelgate_secret_refreshes_total{outcome="ok"}`])
	require.Equal(t, 1.0, got[`intelgate_secret_refreshes_total{outcome="error"}`])
	require.Equal(t, 1.0, got[`intelgate_secret_refreshes_total{outcome="other"}`])
	require.Equal(t, 2.0, got["intelgate_secrets_stale"], "an error refresh leaves the last count")
	require.Equal(t, 1.0, got[`intelgate_config_reloads_total{outcome="ok"}`])
	require.Equal(t, 1.0, got[`intelgate_config_reloads_total{outcome="refused"}`])
	age := got[`intelgate_key_age_seconds{key_id="k",provider="p"}`]
	require.InDelta(t, (91 * 24 * time.Hour).Seconds(), age, 60)
	for name := range got {
		require.NotContains(t, name, "unknown-age")
		require.NotContains(t, name, "sk_live")
	}
}

// The alert meter's series exist from the start for every rule and sink,
// and only fixed outcomes and severities become labels.
func TestAlertMeter(t *testing.T) {
	t.Parallel()
	m := monitor.New(monitor.Options{})
	a := m.Alerts([]string{"quota", "key_age"}, []string{"ops-hook"})
	got := samples(t, m.Registry())
	require.Contains(t, got, `intelgate_alerts_open{rule="quota",severity="info"}`)
	require.Contains(t, got, `intelgate_alerts_fired_total{rule="key_age",severity="critical"}`)
	require.Contains(t, got, `intelgate_alert_notifications_total{outcome="dropped",sink="ops-hook"}`)
	a.Fired("quota", "warning")
	a.Fired("quota", "sk_live_x")
	a.Notified("ops-hook", "sent")
	a.Notified("ops-hook", "whatever")
	a.Open("quota", "critical", 3)
	a.Open("quota", "sk_live_x", 2)
	a.Suppressed("quota")
	a.StoreFailed()
	got = samples(t, m.Registry())
	require.Equal(t, 1.0, got[`intelgate_alerts_fired_total{rule="quota",severity="warning"}`])
	require.Equal(t, 1.0, got[`intelgate_alerts_fired_total{rule="quota",severity="other"}`])
	require.Equal(t, 1.0, got[`intelgate_alert_notifications_total{outcome="sent",sink="ops-hook"}`])
	require.Equal(t, 1.0, got[`intelgate_alert_notifications_total{outcome="other",sink="ops-hook"}`])
	require.Equal(t, 3.0, got[`intelgate_alerts_open{rule="quota",severity="critical"}`])
	require.Equal(t, 0.0, got[`intelgate_alerts_open{rule="quota",severity="warning"}`])
	require.Equal(t, 2.0, got[`intelgate_alerts_open{rule="quota",severity="other"}`])
	require.Equal(t, 1.0, got[`intelgate_alerts_suppressed_total{rule="quota"}`])
	require.Equal(t, 1.0, got["intelgate_alert_store_errors_total"])
}
