package monitor_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/monitor"
)

type failingJobs struct{}

func (failingJobs) JobGauges(context.Context) (int, int, int, error) {
	return 0, 0, 0, errors.New("store down")
}

// The bulk queue's series exist from the start for fixed label sets, only
// fixed states, reasons and outcomes become labels, and the gauges come
// from the queue at scrape time (left out when it cannot answer).
func TestJobsMeter(t *testing.T) {
	t.Parallel()
	m := monitor.New(monitor.Options{})
	j := m.Jobs()
	got := samples(t, m.Registry())
	require.Contains(t, got, `intelgate_job_items_finished_total{state="dead"}`)
	require.Contains(t, got, `intelgate_callback_deliveries_total{kind="event",outcome="failed"}`)
	require.NotContains(t, got, "intelgate_job_items_dead", "no queue watched yet")
	j.Submitted(10)
	j.ItemFinished("dead", time.Second)
	j.ItemFinished("203.0.113.7", time.Second)
	j.Snoozed("quota")
	j.Delivered("job", "delivered")
	j.Webhook("socialeye", "standard", "duplicate")
	j.Webhook("socialeye", "svix", "whatever")
	j.WatchJobs(jobCounts{2, 40, 3})
	got = samples(t, m.Registry())
	require.Equal(t, 1.0, got["intelgate_jobs_submitted_total"])
	require.Equal(t, 10.0, got["intelgate_job_items_submitted_total"])
	require.Equal(t, 1.0, got[`intelgate_job_items_finished_total{state="dead"}`])
	require.Equal(t, 1.0, got[`intelgate_job_items_finished_total{state="other"}`], "an unknown state is not a label value")
	require.Equal(t, 1.0, got[`intelgate_job_item_snoozes_total{reason="quota"}`])
	require.Equal(t, 1.0, got[`intelgate_callback_deliveries_total{kind="job",outcome="delivered"}`])
	require.Equal(t, 1.0, got[`intelgate_webhooks_received_total{outcome="duplicate",provider="socialeye",scheme="standard"}`])
	require.Equal(t, 1.0, got[`intelgate_webhooks_received_total{outcome="other",provider="socialeye",scheme="other"}`])
	require.Equal(t, 2.0, got["intelgate_jobs_unfinished"])
	require.Equal(t, 40.0, got["intelgate_job_items_queued"])
	require.Equal(t, 3.0, got["intelgate_job_items_dead"])

	j.WatchJobs(failingJobs{})
	require.NotContains(t, samples(t, m.Registry()), "intelgate_job_items_dead", "a failing queue leaves its gauges out")
}
