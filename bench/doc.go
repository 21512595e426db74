// Package bench holds intelgate's benchmarks: upstream efficiency under a
// Zipf workload, pacing against a provider's rate limit, the latency
// overhead of the gateway's miss path against direct calls, nginx and
// Caddy, and its cache hits against nginx's proxy_cache. They are Go
// benchmarks (go test -bench) so they run the real chain in-process against
// the real simulator over TLS on loopback; bench/run.sh runs them all and
// prints a summary. docs/benchmarks.md explains every number and its floor.
//
// Nothing here runs under a plain `go test ./...` beyond a few fast unit
// tests of the measuring code itself.
package bench
