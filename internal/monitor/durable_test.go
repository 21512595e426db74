package monitor_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/monitor"
	"github.com/intelgate/intelgate/internal/observe"
)

type queue struct{ depth, capacity int }

func (q queue) Depth() int    { return q.depth }
func (q queue) Capacity() int { return q.capacity }

// durableSequence is what the audit log, the sweeper and the store report.
func durableSequence() []observe.Event {
	return []observe.Event{
		observe.AuditWritten{Records: 256, Latency: 4 * time.Millisecond},
		observe.AuditWritten{Records: 10, Latency: 250 * time.Millisecond, Err: true},
		observe.AuditWritten{Records: 11, Latency: 2 * time.Millisecond},
		observe.AuditDropped{Records: 1},
		observe.AuditDropped{Records: 1},
		observe.Swept{Kind: "audit", Deleted: 500},
		observe.Swept{Kind: "audit", Deleted: 12},
		observe.Swept{Kind: "seen", Deleted: 3},
		observe.Swept{Kind: "cache", Err: true},
		observe.Swept{Kind: "evil.example.com", Deleted: 1},
		observe.StoreFailed{Op: "InTx"},
		observe.StoreFailed{Op: "select * from secrets"},
	}
}

func TestObserveDurableRecords(t *testing.T) {
	t.Parallel()
	m := monitor.New(monitor.Options{})
	observeAll(t, m, durableSequence())
	m.WatchAuditQueue(queue{depth: 7, capacity: 8192})
	require.Equal(t, map[string]float64{
		`intelgate_audit_records_written_total`:           267,
		`intelgate_audit_write_failures_total`:            1,
		`intelgate_audit_records_dropped_total`:           2,
		`intelgate_audit_write_duration_seconds_count`:    3,
		`intelgate_audit_write_duration_seconds_sum`:      0.256,
		`intelgate_audit_queue_depth`:                     7,
		`intelgate_audit_queue_capacity`:                  8192,
		`intelgate_retention_deleted_total{kind="audit"}`: 512,
		`intelgate_retention_deleted_total{kind="seen"}`:  3,
		// a kind or op outside the known set is "other", never echoed
		`intelgate_retention_deleted_total{kind="other"}`: 1,
		`intelgate_retention_errors_total{kind="cache"}`:  1,
		`intelgate_store_errors_total{op="InTx"}`:         1,
		`intelgate_store_errors_total{op="other"}`:        1,
	}, samples(t, m.Registry(), "intelgate_audit_records_written_total", "intelgate_audit_write_failures_total",
		"intelgate_audit_records_dropped_total", "intelgate_audit_write_duration_seconds", "intelgate_audit_queue_depth",
		"intelgate_audit_queue_capacity", "intelgate_retention_deleted_total", "intelgate_retention_errors_total",
		"intelgate_store_errors_total"))
}

// durableZeros are the audit metrics a new metric set exports before any
// event: counters at zero, so a rate() or an alert sees them from the
// first scrape.
func durableZeros() map[string]float64 {
	return map[string]float64{
		"intelgate_audit_queue_capacity": 0, "intelgate_audit_queue_depth": 0,
		"intelgate_audit_records_dropped_total": 0, "intelgate_audit_records_written_total": 0,
		"intelgate_audit_write_duration_seconds_count": 0, "intelgate_audit_write_duration_seconds_sum": 0,
		"intelgate_audit_write_failures_total": 0,
		// The secrets' and reloads' series exist from the start too.
		`intelgate_config_reloads_total{outcome="ok"}`: 0, `intelgate_config_reloads_total{outcome="refused"}`: 0,
		`intelgate_secret_refreshes_total{outcome="ok"}`: 0, `intelgate_secret_refreshes_total{outcome="error"}`: 0,
		"intelgate_secrets_stale": 0,
	}
}
