#!/usr/bin/env bash
# run.sh — run intelgate's benchmarks (docs/benchmarks.md) and print a
# summary table. Results go to bench/out/ (gitignored):
#   machine.txt     what ran them (date, commit, CPU, load, Go, nginx, Caddy, wrk)
#   efficiency.txt  BenchmarkUpstreamEfficiency and BenchmarkPacing, raw
#   overhead.txt    BenchmarkOverhead, raw
#   rounds.txt      BenchmarkOverhead's per-round throughput and CPU tables
#   cachehit.txt    BenchmarkCacheHit, raw
#   cachehit-rounds.txt  BenchmarkCacheHit's per-round tables
#   jobs.txt        BenchmarkJobEnqueue and BenchmarkJobDrain, raw
#   summary.txt     medians per metric and the overhead and cache-hit tables, as printed at the end
#
# Settings (environment):
#   SLOW_COUNT=2        runs of the efficiency and pacing benchmarks
#   OVERHEAD_ROUNDS=5   rounds per concurrency of the overhead benchmark (each
#                       target gets one slice per round)
#   OVERHEAD_SLICE=3s   one target's slice of a round (whole seconds)
#   OVERHEAD_COUNT=1    runs of the overhead benchmark (each a fresh set of processes)
#   CACHEHIT_ROUNDS=5   rounds per concurrency of the cache-hit benchmark (its
#                       slices are OVERHEAD_SLICE long too)
#   CACHEHIT_COUNT=1    runs of the cache-hit benchmark
#   ONLY=overhead       run only the overhead benchmark (or ONLY=efficiency:
#                       efficiency and pacing; ONLY=cachehit: the cache-hit one;
#                       ONLY=jobs: the bulk-job enqueue and drain ones)
#   JOBS_COUNT=2        runs of the bulk-job benchmarks
#   INTELGATE_TEST_POSTGRES_DSN  the PostgreSQL the bulk-job benchmarks also run
#                       on (a fresh schema each); unset, their postgres halves skip
#   NO_INSTALL=1        never install nginx, Caddy or wrk (the overhead and
#                       cache-hit benchmarks then skip if one is missing)
#
# Everything listens on 127.0.0.1 only. nginx, Caddy and wrk, when missing,
# are installed with apt-get (root only); the benchmark starts and stops its
# own nginx and Caddy with generated configs in temp dirs and touches no
# system service. The Debian packages enable system services listening on
# :80 (and Caddy's admin on :2019); run.sh keeps them from starting.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out
mkdir -p "$out"
case "${ONLY:-}" in
"" | efficiency | overhead | cachehit | jobs) ;;
*) echo "ONLY=${ONLY}: want efficiency, overhead, cachehit or jobs (or nothing: all)" >&2; exit 2 ;;
esac

have() {
	case $1 in
	nginx) command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] ;;
	caddy) command -v caddy >/dev/null 2>&1 || [ -x /usr/bin/caddy ] ;;
	*) command -v "$1" >/dev/null 2>&1 ;;
	esac
}

missing=()
for p in nginx caddy wrk; do have "$p" || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ] && [ -z "${NO_INSTALL:-}" ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "installing ${missing[*]} for the overhead and cache-hit comparisons (apt-get install -y)" >&2
		# The packages' services must not start: policy-rc.d exit 101 tells
		# invoke-rc.d no (kept if the machine already has one), and they
		# are disabled and stopped afterwards on a systemd machine.
		guard=
		if [ ! -e /usr/sbin/policy-rc.d ]; then
			guard=/usr/sbin/policy-rc.d
			printf '#!/bin/sh\nexit 101\n' >"$guard" && chmod 755 "$guard"
			trap 'rm -f "$guard"' EXIT # even if the install fails or is interrupted
		fi
		install() { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2; }
		install || { apt-get update >&2 && install; } || echo "install failed; the overhead and cache-hit benchmarks may skip" >&2
		if [ -n "$guard" ]; then rm -f "$guard"; fi
		for svc in nginx caddy; do systemctl disable --now "$svc" >/dev/null 2>&1 || true; done
	else
		echo "${missing[*]} not installed and this is not root with apt-get: the overhead and cache-hit benchmarks will skip" >&2
	fi
fi

{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc)"
	echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "kernel: $(uname -sr)"
	echo "go: $(go version)"
	if have nginx; then echo "nginx: $("$(command -v nginx || echo /usr/sbin/nginx)" -v 2>&1)"; fi
	if have caddy; then echo "caddy: $("$(command -v caddy || echo /usr/bin/caddy)" version 2>&1)"; fi
	if have wrk; then echo "wrk: $(wrk -v 2>&1 | head -1)"; fi
} | tee "$out/machine.txt"

files=()
if [ -z "${ONLY:-}" ] || [ "${ONLY}" = efficiency ]; then
	# Benchmarks only: -run '^$' skips the package's few unit tests.
	go test -run '^$' -bench '^Benchmark(UpstreamEfficiency|Pacing)$' -benchtime 1x \
		-count "${SLOW_COUNT:-2}" -timeout 30m ./bench | tee "$out/efficiency.txt"
	files+=("$out/efficiency.txt")
fi
if [ -z "${ONLY:-}" ] || [ "${ONLY}" = overhead ]; then
	: >"$out/rounds.txt"
	INTELGATE_BENCH_SLICE="${OVERHEAD_SLICE:-3s}" INTELGATE_BENCH_LOG="$PWD/$out/rounds.txt" \
		go test -run '^$' -bench '^BenchmarkOverhead$' -benchtime "${OVERHEAD_ROUNDS:-5}x" \
		-count "${OVERHEAD_COUNT:-1}" -timeout 60m ./bench | tee "$out/overhead.txt"
	files+=("$out/overhead.txt")
fi
if [ -z "${ONLY:-}" ] || [ "${ONLY}" = cachehit ]; then
	: >"$out/cachehit-rounds.txt"
	INTELGATE_BENCH_SLICE="${OVERHEAD_SLICE:-3s}" INTELGATE_BENCH_LOG="$PWD/$out/cachehit-rounds.txt" \
		go test -run '^$' -bench '^BenchmarkCacheHit$' -benchtime "${CACHEHIT_ROUNDS:-5}x" \
		-count "${CACHEHIT_COUNT:-1}" -timeout 30m ./bench | tee "$out/cachehit.txt"
	files+=("$out/cachehit.txt")
fi
if [ -z "${ONLY:-}" ] || [ "${ONLY}" = jobs ]; then
	go test -run '^$' -bench '^BenchmarkJob(Enqueue|Drain)$' -benchtime 1x \
		-count "${JOBS_COUNT:-2}" -timeout 30m ./bench | tee "$out/jobs.txt"
	files+=("$out/jobs.txt")
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/machine.txt"

echo
bench/summary.sh "${files[@]}" | tee "$out/summary.txt"
