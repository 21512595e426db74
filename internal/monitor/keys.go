package monitor

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/intelgate/intelgate/internal/observe"
)

// KeyAge is one upstream key's age, as its source or config tells it.
type KeyAge struct {
	Provider, KeyID string
	ChangedAt       time.Time // when its secret was last set; zero: unknown (not exported)
}

// KeyAgeSource lists every key's age, read at scrape time (in-process:
// no timeout needed).
type KeyAgeSource interface {
	KeyAges() []KeyAge
}

// keyMetrics are the secrets', reloads' and keys' ages.
type keyMetrics struct {
	rotations *prometheus.CounterVec // provider, key_id
	refreshes *prometheus.CounterVec // outcome
	reloads   *prometheus.CounterVec // outcome
	stale     prometheus.Gauge
	ages      atomic.Pointer[KeyAgeSource]
	now       func() time.Time
}

func (m *Metrics) registerKeys() {
	k := &m.keys
	k.now = time.Now
	k.rotations = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "intelgate_key_rotations_total",
		Help: "Upstream keys whose secret changed while serving (secret refresh or reload), by provider and key id."},
		[]string{"provider", "key_id"})
	k.refreshes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "intelgate_secret_refreshes_total",
		Help: "Re-reads of every secret (timer, SIGHUP, POST /admin/v1/reload), by outcome (ok, error)."}, []string{"outcome"})
	k.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "intelgate_config_reloads_total",
		Help: "Configuration reloads, by outcome (ok, refused: the running configuration was kept)."}, []string{"outcome"})
	k.stale = prometheus.NewGauge(prometheus.GaugeOpts{Name: "intelgate_secrets_stale",
		Help: "Secrets whose source failed at the last refresh; their last good value is in use."})
	for _, o := range []string{"ok", "error"} {
		k.refreshes.WithLabelValues(o)
	}
	for _, o := range []string{"ok", "refused"} {
		k.reloads.WithLabelValues(o)
	}
	m.reg.MustRegister(k.rotations, k.refreshes, k.reloads, k.stale, &keyAgeCollector{k: k})
}

// WatchKeyAges exports each key's age from src (built after the metrics).
func (m *Metrics) WatchKeyAges(src KeyAgeSource) { m.keys.ages.Store(&src) }

var keyAgeDesc = prometheus.NewDesc("intelgate_key_age_seconds",
	"Age of each upstream key's secret: since its source wrote it (Vault created_time, the AWS version's creation) or its rotated_at. Keys of unknown age are not exported.",
	[]string{"provider", "key_id"}, nil)

type keyAgeCollector struct{ k *keyMetrics }

func (c *keyAgeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- keyAgeDesc }

func (c *keyAgeCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.k.ages.Load()
	if src == nil {
		return
	}
	now := c.k.now()
	for _, a := range (*src).KeyAges() {
		if a.ChangedAt.IsZero() {
			continue
		}
		ch <- prometheus.MustNewConstMetric(keyAgeDesc, prometheus.GaugeValue, max(now.Sub(a.ChangedAt).Seconds(), 0),
			name(a.Provider), name(a.KeyID))
	}
}

// keyEvent handles the secrets' and reloads' events.
func (m *Metrics) keyEvent(e observe.Event) {
	k := &m.keys
	switch e := e.(type) {
	case observe.KeyRotated:
		k.rotations.WithLabelValues(name(e.Provider), name(e.KeyID)).Inc()
	case observe.SecretsRefreshed:
		k.refreshes.WithLabelValues(oneOf(e.Outcome, []string{"ok", "error"})).Inc()
		if e.Outcome == "ok" {
			k.stale.Set(float64(max(e.Stale, 0)))
		}
	case observe.ConfigReloaded:
		k.reloads.WithLabelValues(oneOf(e.Outcome, []string{"ok", "refused"})).Inc()
	}
}
