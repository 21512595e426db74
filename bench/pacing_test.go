package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// The pacing workload: a backlog of distinct lookups (nothing to coalesce)
// drained through a provider whose upstream allows paceRate per second
// with a burst of paceBurst. No schedule can finish sooner than the floor
// (paceN-paceBurst)/paceRate: the burst is free, every further call waits
// its turn.
const (
	paceN       = 200
	paceRate    = 50
	paceBurst   = 10
	paceClients = 32
	// paceDeadline bounds one drain; a drain this slow is a failure.
	paceDeadline = 2 * time.Minute
)

// BenchmarkPacing reports drain/floor: the time to answer paceN lookups
// over the floor the upstream's limit allows (1.00 is perfect; the round
// trip of the last call is the only unavoidable excess). Clients that get
// a 429 from the gateway (their wait exceeded max_wait) retry after its
// Retry-After, as the SDK does, so every lookup is eventually answered.
//
// equal_limits configures the gateway with exactly the upstream's limit;
// half_burst keeps the rate but leaves half the upstream's burst unused;
// half_burst_maxwait10s also lets lookups wait up to 10s for a unit instead
// of the default 2s. All are measured against the same floor.
func BenchmarkPacing(b *testing.B) {
	b.Run("equal_limits", func(b *testing.B) {
		benchPacing(b, fmt.Sprintf("{rate: %d/s, burst: %d}", paceRate, paceBurst))
	})
	b.Run("half_burst", func(b *testing.B) {
		benchPacing(b, fmt.Sprintf("{rate: %d/s, burst: %d}", paceRate, paceBurst/2))
	})
	b.Run("half_burst_maxwait10s", func(b *testing.B) {
		benchPacing(b, fmt.Sprintf("{rate: %d/s, burst: %d, max_wait: 10s}", paceRate, paceBurst/2))
	})
}

func benchPacing(b *testing.B, gatewayLimits string) {
	floor := time.Duration(paceN-paceBurst) * time.Second / paceRate
	var drain time.Duration
	var lastO outcome
	var sim429, client429, failed, pauses, peak float64
	for iter := range b.N {
		b.StopTimer()
		s := startStack(b, stackOptions{simRate: paceRate, simBurst: paceBurst, conns: paceClients,
			limits: gatewayLimits})
		ctx, cancel := context.WithTimeout(context.Background(), paceDeadline)
		var retried429 atomic.Int64
		b.StartTimer()
		o := runLoad(ctx, paceClients, paceN, func(ctx context.Context, i int) error {
			q := fmt.Sprintf("pace-%d-%03d", iter, i)
			for {
				err := s.resolve(ctx, q)
				var es errStatus
				if !errors.As(err, &es) || es.code != http.StatusTooManyRequests {
					return err
				}
				retried429.Add(1)
				if !wait(ctx, max(es.retryAfter, 50*time.Millisecond)) {
					return err
				}
			}
		})
		b.StopTimer()
		cancel()
		lastO = o
		st := s.sim.Sim.Stats()
		drain += o.elapsed
		sim429 += float64(st.RateLimited)
		failed += float64(o.failed())
		pauses += float64(s.pauses.n.Load())
		peak = max(peak, float64(st.PeakPerSecond))
		client429 += float64(retried429.Load())
		if st.RateLimited > 0 || o.failed() > 0 {
			b.Logf("drain %s (floor %s): simulator statuses %v, client statuses %v, %d key pauses",
				o.elapsed.Round(time.Millisecond), floor, st.ByStatus, o.statuses, s.pauses.n.Load())
		}
	}
	n := float64(b.N)
	// Per-lookup latency of the last drain, retries after a 429 included.
	// With FIFO waiting no lookup would wait much longer than
	// paceClients/paceRate; max_ms far above that means unfair wake-ups.
	b.ReportMetric(ms(percentile(lastO.latencies, 50)), "p50_ms")
	b.ReportMetric(ms(percentile(lastO.latencies, 99)), "p99_ms")
	b.ReportMetric(ms(percentile(lastO.latencies, 100)), "max_ms")
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(drain.Seconds()/n, "drain_s")
	b.ReportMetric(floor.Seconds(), "floor_s")
	b.ReportMetric(drain.Seconds()/n/floor.Seconds(), "drain/floor")
	b.ReportMetric(sim429/n, "sim_429s")
	b.ReportMetric(client429/n, "gateway_429s")
	b.ReportMetric(failed/n, "client_failed")
	b.ReportMetric(pauses/n, "key_pauses")
	b.ReportMetric(peak, "peak_per_s")
}
