#!/usr/bin/env bash
# summary.sh FILE... — summarise `go test -bench` output: for every
# benchmark and metric, the median over the runs in FILE... (-count N gives
# N runs), with the smallest and largest value and the number of runs.
# Used by bench/run.sh; works on any saved benchmark output.
set -euo pipefail

# One "benchmark<TAB>metric<TAB>value" line per reported metric. The -N
# GOMAXPROCS suffix is dropped; ns/op is skipped (our benchmarks zero it).
awk '/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	for (i = 3; i < NF; i += 2) if ($(i + 1) != "ns/op") printf "%s\t%s\t%s\n", name, $(i + 1), $i
}' "$@" |
	LC_ALL=C sort -t "$(printf '\t')" -k1,1 -k2,2 -k3,3g |
	awk -F '\t' '
function flush() {
	if (n == 0) return
	med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
	printf "%-52s %-26s %12.4g   [%.4g … %.4g]  n=%d\n", bench, metric, med, v[1], v[n], n
	n = 0
}
BEGIN { printf "%-52s %-26s %12s   %s\n", "benchmark", "metric", "median", "[min … max] runs" }
$1 != bench || $2 != metric { flush(); bench = $1; metric = $2 }
{ v[++n] = $3 }
END { flush() }'
