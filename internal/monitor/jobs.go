package monitor

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// JobGauges is the bulk queue's state, read at scrape time: unfinished
// jobs, the items they still wait for, and the dead items (each a cheap
// indexed count).
type JobGauges interface {
	JobGauges(ctx context.Context) (unfinished, queued, dead int, err error)
}

// JobsMeter counts the bulk queue's work (internal/jobs's Meter): items by
// final state, queue latency, item duration, snoozes, callback and event
// deliveries, and inbound webhooks by provider, scheme and outcome.
type JobsMeter struct {
	submitted      prometheus.Counter
	itemsSubmitted prometheus.Counter
	finished       *prometheus.CounterVec // state
	queueWait      prometheus.Histogram
	duration       *prometheus.HistogramVec // state
	snoozed        *prometheus.CounterVec   // reason
	delivered      *prometheus.CounterVec   // kind, outcome
	webhooks       *prometheus.CounterVec   // provider, scheme, outcome
	gauges         atomic.Pointer[JobGauges]
}

var (
	itemStates       = []string{"done", "failed", "dead", "withheld"}
	snoozeReasons    = []string{"quota", "quota_held", "client_disabled", "shutdown"}
	deliveryKinds    = []string{"job", "event"}
	deliveryOutcomes = []string{"delivered", "retry", "failed"}
	webhookSchemes   = []string{"standard", "github", "stripe"}
	webhookOutcomes  = []string{"queued", "duplicate", "invalid_signature", "too_large", "unavailable"}
	// An item waits from milliseconds (an idle queue) to hours (a
	// 10,000-item job behind a provider's daily quota).
	jobWaitBuckets = []float64{.01, .05, .1, .5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600}
)

// Jobs registers the bulk queue's metrics; every series of a fixed label
// set exists from the start.
func (m *Metrics) Jobs() *JobsMeter {
	j := &JobsMeter{
		submitted: prometheus.NewCounter(prometheus.CounterOpts{Name: "intelgate_jobs_submitted_total",
			Help: "Bulk jobs submitted (a replayed Idempotency-Key is not a new job)."}),
		itemsSubmitted: prometheus.NewCounter(prometheus.CounterOpts{Name: "intelgate_job_items_submitted_total",
			Help: "Items (indicators) in submitted bulk jobs."}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "intelgate_job_items_finished_total",
			Help: "Bulk items that reached a final state: done, failed (cannot succeed as asked), dead (attempts exhausted), withheld."}, []string{"state"}),
		queueWait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "intelgate_job_item_queue_seconds",
			Help: "Time from an item's submission to its first attempt.", Buckets: jobWaitBuckets}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "intelgate_job_item_duration_seconds",
			Help: "Duration of the attempt that finished an item, by final state.", Buckets: prometheus.DefBuckets}, []string{"state"}),
		snoozed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "intelgate_job_item_snoozes_total",
			Help: "Item attempts put off without counting: quota (a provider's or the client's limit; snoozed), quota_held (held by its worker for the provider's next unit, under a second away), client_disabled, shutdown."}, []string{"reason"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "intelgate_callback_deliveries_total",
			Help: "Signed deliveries by kind (job: a job's finish; event: a provider event forwarded) and outcome (delivered, retry, failed)."},
			[]string{"kind", "outcome"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "intelgate_webhooks_received_total",
			Help: "Inbound provider webhooks by provider, scheme and outcome: queued, duplicate (a replay, not processed again), invalid_signature, too_large, unavailable (not stored)."},
			[]string{"provider", "scheme", "outcome"}),
	}
	for _, s := range itemStates {
		j.finished.WithLabelValues(s)
	}
	for _, r := range snoozeReasons {
		j.snoozed.WithLabelValues(r)
	}
	for _, k := range deliveryKinds {
		for _, o := range deliveryOutcomes {
			j.delivered.WithLabelValues(k, o)
		}
	}
	m.reg.MustRegister(j.submitted, j.itemsSubmitted, j.finished, j.queueWait, j.duration, j.snoozed, j.delivered, j.webhooks,
		&jobsCollector{j: j,
			unfinished: prometheus.NewDesc("intelgate_jobs_unfinished", "Bulk jobs with items not yet final.", nil, nil),
			queued: prometheus.NewDesc("intelgate_job_items_queued",
				"Items of unfinished jobs not yet final (waiting, running, retrying or snoozed).", nil, nil),
			dead: prometheus.NewDesc("intelgate_job_items_dead", "Items in the dead-letter queue.", nil, nil)})
	return j
}

// jobsCollector reads the queue's gauges at scrape time, bounded like the
// other scrape-time sources; on failure they are left out of that scrape.
type jobsCollector struct {
	j                        *JobsMeter
	busy                     atomic.Bool
	unfinished, queued, dead *prometheus.Desc
}

func (c *jobsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.unfinished
	ch <- c.queued
	ch <- c.dead
}

func (c *jobsCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.j.gauges.Load()
	if src == nil {
		return
	}
	type counts struct{ u, q, d int }
	v, err := bounded(&c.busy, DefaultCollectTimeout, func(ctx context.Context) (counts, error) {
		u, q, d, err := (*src).JobGauges(ctx)
		return counts{u, q, d}, err
	})
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.unfinished, prometheus.GaugeValue, float64(v.u))
	ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(v.q))
	ch <- prometheus.MustNewConstMetric(c.dead, prometheus.GaugeValue, float64(v.d))
}

// WatchJobs sets the queue the gauges read.
func (j *JobsMeter) WatchJobs(src JobGauges) { j.gauges.Store(&src) }

func (j *JobsMeter) Submitted(items int) {
	j.submitted.Inc()
	j.itemsSubmitted.Add(float64(max(items, 0)))
}

func (j *JobsMeter) ItemStarted(wait time.Duration) { j.queueWait.Observe(max(wait, 0).Seconds()) }

func (j *JobsMeter) ItemFinished(state string, d time.Duration) {
	s := oneOf(state, itemStates)
	j.finished.WithLabelValues(s).Inc()
	j.duration.WithLabelValues(s).Observe(max(d, 0).Seconds())
}

func (j *JobsMeter) Snoozed(reason string) {
	j.snoozed.WithLabelValues(oneOf(reason, snoozeReasons)).Inc()
}

func (j *JobsMeter) Delivered(kind, outcome string) {
	j.delivered.WithLabelValues(oneOf(kind, deliveryKinds), oneOf(outcome, deliveryOutcomes)).Inc()
}

func (j *JobsMeter) Webhook(provider, scheme, outcome string) {
	j.webhooks.WithLabelValues(name(provider), oneOf(scheme, webhookSchemes), oneOf(outcome, webhookOutcomes)).Inc()
}
