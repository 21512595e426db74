package bench

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// ovCompared are the targets the gateway's ratios are taken against, in
// the order they are reported; a run reports those of them it has.
var ovCompared = []string{"caddy", "nginx", "direct"}

// compared is the names in ovCompared that are among targets.
func compared(targets []ovTarget) []string {
	var out []string
	for _, name := range ovCompared {
		if slices.ContainsFunc(targets, func(t ovTarget) bool { return t.name == name }) {
			out = append(out, name)
		}
	}
	return out
}

// reportOverhead reports, as medians over the rounds: each target's
// throughput, p50/p99 and the simulator's CPU per request (equal across
// targets when every proxy keeps its upstream connections alive); the
// CPU per request of each proxy and of the gateway, and the gateway's
// allocations per request; the gateway's throughput, latency and CPU ratios
// to the others, taken within each round. It logs every round, and where the
// machine's CPU went, so a reader can tell a saturated load generator or a
// noisy neighbour from the gateway's cost.
func reportOverhead(b *testing.B, targets []ovTarget, rounds []map[string]ovSlice) {
	over := func(name string, f func(ovSlice) float64) float64 {
		vs := make([]float64, 0, len(rounds))
		for _, r := range rounds {
			vs = append(vs, f(r[name]))
		}
		return median(vs)
	}
	for _, t := range targets {
		b.ReportMetric(over(t.name, ovSlice.rps), t.name+"_req/s")
		b.ReportMetric(over(t.name, func(s ovSlice) float64 { return ms(s.p50) }), t.name+"_p50_ms")
		b.ReportMetric(over(t.name, func(s ovSlice) float64 { return ms(s.p99) }), t.name+"_p99_ms")
		b.ReportMetric(over(t.name, func(s ovSlice) float64 { return usPer(s.sim, s.requests) }), t.name+"_sim_us/req")
		b.ReportMetric(over(t.name, func(s ovSlice) float64 { return cores(s.machine.idle, s.window) }), t.name+"_idle_cores")
		if t.pid >= 0 {
			b.ReportMetric(over(t.name, func(s ovSlice) float64 { return usPer(s.proxy, s.requests) }), t.name+"_cpu_us/req")
			b.ReportMetric(over(t.name, func(s ovSlice) float64 { return float64(s.upNew) }), t.name+"_new_conns")
		}
	}
	gw := func(f func(ovSlice) float64) float64 { return over("gateway", f) }
	b.ReportMetric(gw(func(s ovSlice) float64 { return usPer(s.self.sys, s.requests) }), "gateway_sys_us/req")
	b.ReportMetric(gw(func(s ovSlice) float64 { return usPer(s.self.gc, s.requests) }), "gateway_gc_us/req")
	b.ReportMetric(gw(func(s ovSlice) float64 { return float64(s.self.mallocs) / float64(s.requests) }), "gateway_allocs/req")
	b.ReportMetric(gw(func(s ovSlice) float64 { return float64(s.self.bytes) / float64(s.requests) }), "gateway_B/req")
	for _, other := range compared(targets) {
		ratio := func(f func(ovSlice) float64) float64 {
			vs := make([]float64, 0, len(rounds))
			for _, r := range rounds {
				vs = append(vs, f(r["gateway"])/f(r[other]))
			}
			return median(vs)
		}
		b.ReportMetric(ratio(ovSlice.rps), "gateway/"+other+"_req/s")
		b.ReportMetric(ratio(func(s ovSlice) float64 { return ms(s.p50) }), "gateway/"+other+"_p50")
		b.ReportMetric(ratio(func(s ovSlice) float64 { return ms(s.p99) }), "gateway/"+other+"_p99")
		if other != "direct" {
			// CPU per request hardly depends on how much CPU the rest of
			// the machine leaves: the ratio to read on a noisy machine.
			b.ReportMetric(ratio(func(s ovSlice) float64 { return usPer(s.proxy, s.requests) }), "gateway/"+other+"_cpu")
		}
	}
	var wrkMax float64
	var others []float64
	for _, r := range rounds {
		for name, s := range r {
			wrkMax = max(wrkMax, cores(s.wrkRun.cpu, s.window))
			others = append(others, s.other(name == "gateway"))
		}
	}
	b.ReportMetric(wrkMax, "wrk_cores_max")
	b.ReportMetric(median(others), "other_cores")
	b.ReportMetric(0, "ns/op")
	logOverhead(b, roundsTable(targets, rounds))
}

// ovLogEnv names a file the per-round tables are appended to (bench/run.sh
// sets it). Without it they go to the benchmark log, which go test cuts
// after 10 lines.
const ovLogEnv = "INTELGATE_BENCH_LOG"

func logOverhead(b *testing.B, table string) {
	path := os.Getenv(ovLogEnv)
	if path == "" {
		b.Log(table)
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		b.Fatalf("%s: %v", ovLogEnv, err)
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "%s, %d rounds, %s%s\n", b.Name(), b.N, time.Now().UTC().Format(time.RFC3339), table); err != nil {
		b.Fatalf("writing %s: %v", path, err)
	}
}

// roundsTable is the log of a run: every round's throughput and ratios,
// then per target where the CPU went (medians over rounds, in cores:
// 1.00 is one core busy for the whole slice) and the simulator's
// connections after a slice (new/open).
func roundsTable(targets []ovTarget, rounds []map[string]ovSlice) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%-6s", "round")
	for _, t := range targets {
		fmt.Fprintf(&sb, " %9s", t.name)
	}
	var proxies []string // the ratio columns: to every other proxy
	sb.WriteString(" ")
	for _, name := range compared(targets) {
		if name != "direct" {
			proxies = append(proxies, name)
			fmt.Fprintf(&sb, " %9s", "gw/"+name)
		}
	}
	fmt.Fprintf(&sb, "   (req/s; order rotates by round)\n")
	for i, r := range rounds {
		fmt.Fprintf(&sb, "%-6d", i)
		for _, t := range targets {
			fmt.Fprintf(&sb, " %9.0f", r[t.name].rps())
		}
		sb.WriteString(" ")
		for _, name := range proxies {
			fmt.Fprintf(&sb, " %9.3f", r["gateway"].rps()/r[name].rps())
		}
		sb.WriteString("\n")
	}
	fmt.Fprintf(&sb, "%-8s %7s %7s %7s %7s %7s %7s %10s %10s %9s\n",
		"cores", "wrk", "proxy", "sim", "bench", "other", "idle", "wrk_us/req", "sim_us/req", "up_conns")
	for _, t := range targets {
		col := func(f func(ovSlice) float64) float64 {
			vs := make([]float64, 0, len(rounds))
			for _, r := range rounds {
				vs = append(vs, f(r[t.name]))
			}
			return median(vs)
		}
		fmt.Fprintf(&sb, "%-8s %7.2f %7.2f %7.2f %7.2f %7.2f %7.2f %10.1f %10.1f %4.0f/%-4.0f\n", t.name,
			col(func(s ovSlice) float64 { return cores(s.wrkRun.cpu, s.window) }),
			col(func(s ovSlice) float64 { return cores(s.proxy, s.window) }),
			col(func(s ovSlice) float64 { return cores(s.sim, s.window) }),
			col(func(s ovSlice) float64 { return cores(s.self.user+s.self.sys, s.window) }),
			col(func(s ovSlice) float64 { return s.other(t.name == "gateway") }),
			col(func(s ovSlice) float64 { return cores(s.machine.idle, s.window) }),
			col(func(s ovSlice) float64 { return usPer(s.wrkRun.cpu, s.requests) }),
			col(func(s ovSlice) float64 { return usPer(s.sim, s.requests) }),
			col(func(s ovSlice) float64 { return float64(s.upNew) }),
			col(func(s ovSlice) float64 { return float64(s.upOpen) }))
	}
	return sb.String()
}

// median of vs (the mean of the middle two for an even count); 0 for none.
// It does not modify vs.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
