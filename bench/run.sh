#!/usr/bin/env bash
# run.sh — run intelgate's benchmarks (docs/benchmarks.md) and print a
# summary table. Results go to bench/out/ (gitignored):
#   machine.txt     what ran them (date, CPU, Go, nginx)
#   efficiency.txt  BenchmarkUpstreamEfficiency and BenchmarkPacing, raw
#   overhead.txt    BenchmarkOverhead, raw
#   summary.txt     medians per metric, as printed at the end
#
# Settings (environment):
#   SLOW_COUNT=2        runs of the efficiency and pacing benchmarks
#   OVERHEAD_COUNT=5    runs of the overhead benchmark
#   OVERHEAD_N=10000    requests per target per overhead run
#   NO_INSTALL=1        never install nginx (the overhead benchmark then skips)
#
# Everything listens on 127.0.0.1 only. nginx, when needed and missing, is
# installed with apt-get (root only); the benchmark starts and stops its own
# nginx with a generated config in a temp dir and touches no system service.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out
mkdir -p "$out"

have_nginx() { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; }

if ! have_nginx && [ -z "${NO_INSTALL:-}" ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "installing nginx for the overhead comparison (apt-get install -y nginx)" >&2
		# On a systemd machine the Debian package also starts the system
		# nginx on port 80; the benchmark does not use that one.
		DEBIAN_FRONTEND=noninteractive apt-get install -y nginx >&2 ||
			{ apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y nginx >&2; }
	else
		echo "nginx is not installed and this is not root with apt-get: the overhead benchmark will skip" >&2
	fi
fi

{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc)"
	echo "kernel: $(uname -sr)"
	echo "go: $(go version)"
	if have_nginx; then echo "nginx: $("$(command -v nginx || echo /usr/sbin/nginx)" -v 2>&1)"; fi
	echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
} | tee "$out/machine.txt"

# Benchmarks only: -run '^$' skips the package's few unit tests.
go test -run '^$' -bench '^Benchmark(UpstreamEfficiency|Pacing)$' -benchtime 1x \
	-count "${SLOW_COUNT:-2}" -timeout 30m ./bench | tee "$out/efficiency.txt"
go test -run '^$' -bench '^BenchmarkOverhead$' -benchtime "${OVERHEAD_N:-10000}x" \
	-count "${OVERHEAD_COUNT:-5}" -timeout 30m ./bench | tee "$out/overhead.txt"

echo
bench/summary.sh "$out/efficiency.txt" "$out/overhead.txt" | tee "$out/summary.txt"
