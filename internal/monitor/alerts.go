package monitor

import (
	"github.com/prometheus/client_golang/prometheus"
)

// AlertMeter counts the alert engine's work (internal/alert's Meter):
// alerts fired, live alerts per rule, sink deliveries, suppressions and
// store failures. Rule and sink names come from the config; severity and
// outcome from fixed sets.
type AlertMeter struct {
	fired      *prometheus.CounterVec // rule, severity
	open       *prometheus.GaugeVec   // rule, severity
	notified   *prometheus.CounterVec // sink, outcome
	suppressed *prometheus.CounterVec // rule
	storeFails prometheus.Counter
}

var (
	alertSeverities = []string{"info", "warning", "critical"}
	notifyOutcomes  = []string{"sent", "failed", "dropped"}
)

// Alerts registers the alert engine's metrics for rules and sinks (each
// series exists from the start at 0, so a dashboard and an alert rule see
// it before the first alert) and returns the engine's meter.
func (m *Metrics) Alerts(rules, sinks []string) *AlertMeter {
	a := &AlertMeter{
		fired: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "intelgate_alerts_fired_total",
			Help: "Alerts that fired, escalated or reopened (each one a notification), by rule and severity."}, []string{"rule", "severity"}),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "intelgate_alerts_open",
			Help: "Live alerts (open or acknowledged), by rule and severity."}, []string{"rule", "severity"}),
		notified: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "intelgate_alert_notifications_total",
			Help: "Alert deliveries by sink and outcome: sent, failed (an attempt; retried), dropped (queue full, attempts exhausted or refused for good)."},
			[]string{"sink", "outcome"}),
		suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "intelgate_alerts_suppressed_total",
			Help: "Alerts not opened, or notifications not queued, because a bound was reached, by rule."}, []string{"rule"}),
		storeFails: prometheus.NewCounter(prometheus.CounterOpts{Name: "intelgate_alert_store_errors_total",
			Help: "Failed reads and writes of alerts in the durable store (writes stay pending, bounded, and are retried; a failed read at start is retried with back-off)."}),
	}
	for _, r := range rules {
		a.suppressed.WithLabelValues(name(r))
		for _, s := range alertSeverities {
			a.open.WithLabelValues(name(r), s)
			a.fired.WithLabelValues(name(r), s)
		}
	}
	for _, s := range sinks {
		for _, o := range notifyOutcomes {
			a.notified.WithLabelValues(name(s), o)
		}
	}
	m.reg.MustRegister(a.fired, a.open, a.notified, a.suppressed, a.storeFails)
	return a
}

func (a *AlertMeter) Fired(rule, severity string) {
	a.fired.WithLabelValues(name(rule), oneOf(severity, alertSeverities)).Inc()
}

func (a *AlertMeter) Notified(sink, outcome string) {
	a.notified.WithLabelValues(name(sink), oneOf(outcome, notifyOutcomes)).Inc()
}

func (a *AlertMeter) Open(rule, severity string, n int) {
	a.open.WithLabelValues(name(rule), oneOf(severity, alertSeverities)).Set(float64(max(n, 0)))
}

func (a *AlertMeter) Suppressed(rule string) { a.suppressed.WithLabelValues(name(rule)).Inc() }

func (a *AlertMeter) StoreFailed() { a.storeFails.Inc() }
