package bench

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/intelgate/intelgate/internal/nginxtest"
)

// The overhead workload: every request a distinct query (so the gateway
// has nothing to coalesce), from ovClients concurrent closed-loop clients,
// against an unlimited simulator and a gateway with no provider limit, so
// what is measured is the cost of the hop itself, not pacing.
const (
	ovClients = 16
	ovRound   = 1000 // requests per target per round; targets take turns
	ovWarmup  = 500  // unmeasured requests per target (pools, TLS sessions)
)

// target is one way to reach the simulator's /v1/resolve.
type target struct {
	name string
	do   func(ctx context.Context, query string) error
}

// BenchmarkOverhead measures, in one run, latency (p50, p99) and
// throughput of the same lookups sent directly to the simulator (TLS), via
// the gateway, and via nginx as a plain reverse proxy (both plaintext in
// front, TLS to the simulator). b.N is the number of requests per target.
// Targets take turns in rounds of ovRound, rotating who goes first, so a
// noisy moment on the machine is shared rather than charged to one of them.
// The ratios gateway/direct and gateway/nginx are the numbers to compare
// across machines; the absolute ones are this machine's.
func BenchmarkOverhead(b *testing.B) {
	if _, err := nginxtest.Binary(); err != nil {
		b.Skip(err.Error())
	}
	s := startStack(b, stackOptions{conns: ovClients})
	nginxURL := startNginx(b, s.sim.URL, s.sim.CAPEM)
	resolvePath := "/v1/resolve?query="
	targets := []target{
		{"direct", func(ctx context.Context, q string) error {
			return get(ctx, s.direct, s.sim.URL+resolvePath+url.QueryEscape(q), simKey)
		}},
		{"gateway", s.resolve},
		{"nginx", func(ctx context.Context, q string) error {
			return get(ctx, s.client, nginxURL+resolvePath+url.QueryEscape(q), simKey)
		}},
	}
	ctx := context.Background()
	lat := map[string][]time.Duration{}
	busy := map[string]time.Duration{}
	sent := map[string]int{}
	run := func(t target, n int, measure bool) {
		base := sent[t.name]
		o := runLoad(ctx, ovClients, n, func(ctx context.Context, i int) error {
			return t.do(ctx, fmt.Sprintf("ov-%s-%d", t.name, base+i))
		})
		sent[t.name] += n
		if o.failed() > 0 {
			b.Fatalf("%s: answers other than 200: %v", t.name, o.statuses)
		}
		if measure {
			lat[t.name] = append(lat[t.name], o.latencies...)
			busy[t.name] += o.elapsed
		}
	}
	for _, t := range targets {
		run(t, ovWarmup, false)
	}
	b.ResetTimer()
	for round, done := 0, 0; done < b.N; round++ {
		n := min(ovRound, b.N-done)
		for k := range targets {
			run(targets[(round+k)%len(targets)], n, true)
		}
		done += n
	}
	b.StopTimer()
	reportOverhead(b, targets, lat, busy)
}

// reportOverhead reports each target's p50/p99 (ms) and throughput, and
// the gateway's ratios to the others: latency ratios above 1 and
// throughput ratios below 1 are the gateway's cost.
func reportOverhead(b *testing.B, targets []target, lat map[string][]time.Duration, busy map[string]time.Duration) {
	type summary struct{ p50, p99, rps float64 }
	sum := map[string]summary{}
	for _, t := range targets {
		ds := lat[t.name]
		sum[t.name] = summary{
			p50: ms(percentile(ds, 50)),
			p99: ms(percentile(ds, 99)),
			rps: float64(len(ds)) / busy[t.name].Seconds(),
		}
		b.ReportMetric(sum[t.name].p50, t.name+"_p50_ms")
		b.ReportMetric(sum[t.name].p99, t.name+"_p99_ms")
		b.ReportMetric(sum[t.name].rps, t.name+"_req/s")
	}
	gw := sum["gateway"]
	for _, other := range []string{"direct", "nginx"} {
		o := sum[other]
		b.ReportMetric(gw.p50/o.p50, "gateway/"+other+"_p50")
		b.ReportMetric(gw.p99/o.p99, "gateway/"+other+"_p99")
		b.ReportMetric(gw.rps/o.rps, "gateway/"+other+"_req/s")
	}
	b.ReportMetric(0, "ns/op")
}
