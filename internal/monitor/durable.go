package monitor

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/intelgate/intelgate/internal/observe"
)

// QueueSource is the audit log's queue, read at scrape time.
type QueueSource interface {
	Depth() int
	Capacity() int
}

// durableMetrics are the audit log's, the retention sweeper's and the
// store's.
type durableMetrics struct {
	auditWritten  prometheus.Counter
	auditDropped  prometheus.Counter
	auditFailures prometheus.Counter
	auditLatency  prometheus.Histogram
	swept         *prometheus.CounterVec // kind
	sweepErrors   *prometheus.CounterVec // kind
	storeErrors   *prometheus.CounterVec // op
	queue         atomic.Pointer[QueueSource]
}

// Audit appends run from a millisecond (SQLite, a small batch) to the
// store's operation timeout.
var auditBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// sweepKinds are what the sweeper deletes; storeOps the store's methods.
var (
	sweepKinds = []string{"audit", "seen", "cache", "pauses", "quota", "cache_purges", "alerts", "jobs", "webhooks"}
	storeOps   = []string{"TouchClient", "ClientLastSeen", "RecordKeyFingerprint", "Consume", "Refund", "Used",
		"InTx", "ReadTx", "SavePause", "DeletePause", "LoadPauses", "Sweep", "Ping", "Get", "Put", "Delete", "Purge",
		"Scan", "Publish", "Subscribe"}
)

func (m *Metrics) registerDurable() {
	d := &m.durable
	d.auditWritten = prometheus.NewCounter(prometheus.CounterOpts{Name: "intelgate_audit_records_written_total",
		Help: "Audit records appended to the log (checkpoints and dropped-records notes included)."})
	d.auditDropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "intelgate_audit_records_dropped_total",
		Help: "Audit records lost because the audit queue was full or the log had shut down; the log records how many in a dropped record."})
	d.auditFailures = prometheus.NewCounter(prometheus.CounterOpts{Name: "intelgate_audit_write_failures_total",
		Help: "Failed audit appends (the batch is retried with back-off)."})
	d.auditLatency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "intelgate_audit_write_duration_seconds",
		Help: "Time to append one batch of audit records, successful or not.", Buckets: auditBuckets})
	d.swept = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "intelgate_retention_deleted_total",
		Help: "Rows the retention sweeper deleted, by kind (audit, seen, cache, pauses, quota, cache_purges, alerts)."}, []string{"kind"})
	d.sweepErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "intelgate_retention_errors_total",
		Help: "Retention sweeper batches that failed, by kind."}, []string{"kind"})
	d.storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "intelgate_store_errors_total",
		Help: "Failed operations of the durable store (SQLite or PostgreSQL), by operation."}, []string{"op"})
	depth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "intelgate_audit_queue_depth",
		Help: "Audit records waiting to be written."}, func() float64 { return d.queueValue(QueueSource.Depth) })
	capacity := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "intelgate_audit_queue_capacity",
		Help: "Size of the audit queue; records beyond it are dropped."}, func() float64 { return d.queueValue(QueueSource.Capacity) })
	m.reg.MustRegister(d.auditWritten, d.auditDropped, d.auditFailures, d.auditLatency, d.swept, d.sweepErrors,
		d.storeErrors, depth, capacity)
}

func (d *durableMetrics) queueValue(f func(QueueSource) int) float64 {
	if q := d.queue.Load(); q != nil {
		return float64(f(*q))
	}
	return 0
}

// WatchAuditQueue exports q's depth and capacity. The audit log is built
// after the metrics (it reports to them), hence a setter.
func (m *Metrics) WatchAuditQueue(q QueueSource) { m.durable.queue.Store(&q) }

// durableEvent handles the audit log's, the sweeper's and the store's
// events.
func (m *Metrics) durableEvent(e observe.Event) {
	d := &m.durable
	switch e := e.(type) {
	case observe.AuditWritten:
		d.auditLatency.Observe(e.Latency.Seconds())
		if e.Err {
			d.auditFailures.Inc()
			return
		}
		d.auditWritten.Add(float64(max(e.Records, 0)))
	case observe.AuditDropped:
		d.auditDropped.Add(float64(max(e.Records, 0)))
	case observe.Swept:
		kind := oneOf(e.Kind, sweepKinds)
		if e.Err {
			d.sweepErrors.WithLabelValues(kind).Inc()
			return
		}
		d.swept.WithLabelValues(kind).Add(float64(max(e.Deleted, 0)))
	case observe.StoreFailed:
		d.storeErrors.WithLabelValues(oneOf(e.Op, storeOps)).Inc()
	}
}
