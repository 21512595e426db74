#!/usr/bin/env bash
# summary.sh FILE... — summarise `go test -bench` output: for every
# benchmark and metric, the median over the runs in FILE... (-count N gives
# N runs), with the smallest and largest value and the number of runs; then,
# if BenchmarkOverhead or BenchmarkCacheHit ran, their numbers as one table
# per concurrency each.
# Used by bench/run.sh; works on any saved benchmark output.
set -euo pipefail

# One "benchmark<TAB>metric<TAB>median<TAB>min<TAB>max<TAB>runs" line per
# benchmark and metric. The -N GOMAXPROCS suffix is dropped; ns/op is
# skipped (our benchmarks zero it).
medians=$(awk '/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	for (i = 3; i < NF; i += 2) if ($(i + 1) != "ns/op") printf "%s\t%s\t%s\n", name, $(i + 1), $i
}' "$@" |
	LC_ALL=C sort -t "$(printf '\t')" -k1,1 -k2,2 -k3,3g |
	awk -F '\t' '
function flush() {
	if (n == 0) return
	med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
	printf "%s\t%s\t%.6g\t%.6g\t%.6g\t%d\n", bench, metric, med, v[1], v[n], n
	n = 0
}
$1 != bench || $2 != metric { flush(); bench = $1; metric = $2 }
{ v[++n] = $3 }
END { flush() }')

[ -n "$medians" ] || { echo "no benchmark results in $*" >&2; exit 1; }

printf '%s\n' "$medians" | awk -F '\t' '
BEGIN { printf "%-52s %-26s %12s   %s\n", "benchmark", "metric", "median", "[min … max] runs" }
{ printf "%-52s %-26s %12.4g   [%.4g … %.4g]  n=%d\n", $1, $2, $3, $4, $5, $6 }'

# The overhead and cache-hit benchmarks as tables: one block per
# concurrency, one row per target (those it has), then the gateway's
# ratios to the others. Every number is a median over rounds (ratios: of
# per-round ratios), then the median over runs.
table() { # benchmark, its targets, the targets the gateway is compared with, title
	printf '%s\n' "$medians" | awk -F '\t' -v bench="$1" -v targets="$2" -v others="$3" -v title="$4" '
$1 ~ ("^" bench "/clients=") {
	c = $1; sub(/.*clients=/, "", c)
	if (!(c in seen)) { seen[c] = 1; order[++nc] = c }
	m[c, $2] = $3; runs[c] = $6
}
function v(c, k, fmt) { return ((c, k) in m) ? sprintf(fmt, m[c, k]) : "-" }
END {
	if (nc == 0) exit
	for (i = 2; i <= nc; i++) # by concurrency, numerically
		for (j = i; j > 1 && order[j - 1] + 0 > order[j] + 0; j--) { x = order[j]; order[j] = order[j - 1]; order[j - 1] = x }
	nt = split(targets, t, " ")
	no = split(others, o, " ")
	printf "\n%s (medians over rounds; ratios taken within each round)\n", title
	for (i = 1; i <= nc; i++) {
		c = order[i]
		printf "\n%s clients (%d run%s)\n", c, runs[c], runs[c] == 1 ? "" : "s"
		printf "  %-9s %9s %8s %8s %11s %11s %8s %10s\n", "target", "req/s", "p50 ms", "p99 ms", "cpu us/req", "sim us/req", "idle", "new conns"
		for (j = 1; j <= nt; j++) {
			n = t[j]
			printf "  %-9s %9s %8s %8s %11s %11s %8s %10s\n", n, v(c, n "_req/s", "%.0f"), v(c, n "_p50_ms", "%.2f"),
				v(c, n "_p99_ms", "%.2f"), v(c, n "_cpu_us/req", "%.0f"), v(c, n "_sim_us/req", "%.0f"),
				v(c, n "_idle_cores", "%.2f"), v(c, n "_new_conns", "%.0f")
		}
		printf "  %-16s %8s %8s %8s %11s\n", "ratio", "req/s", "p50", "p99", "cpu/req"
		for (j = 1; j <= no; j++)
			printf "  gateway/%-8s %8s %8s %8s %11s\n", o[j], v(c, "gateway/" o[j] "_req/s", "%.3f"),
				v(c, "gateway/" o[j] "_p50", "%.2f"), v(c, "gateway/" o[j] "_p99", "%.2f"), v(c, "gateway/" o[j] "_cpu", "%.2f")
		printf "  gateway: %s allocs/req, %s B/req, %s us/req GC, %s us/req system; wrk at most %s cores; other load %s cores\n",
			v(c, "gateway_allocs/req", "%.0f"), v(c, "gateway_B/req", "%.0f"), v(c, "gateway_gc_us/req", "%.0f"),
			v(c, "gateway_sys_us/req", "%.0f"), v(c, "wrk_cores_max", "%.2f"), v(c, "other_cores", "%.2f")
		if ((c, "sim_calls") in m)
			printf "  simulator calls while hits were measured: %s (must be 0); answer %s bytes\n",
				v(c, "sim_calls", "%.0f"), v(c, "body_B", "%.0f")
	}
}'
}
table BenchmarkOverhead "direct gateway nginx caddy" "caddy nginx direct" BenchmarkOverhead
table BenchmarkCacheHit "gateway nginx" "nginx" "BenchmarkCacheHit (hits only: gateway cache vs nginx proxy_cache)"
